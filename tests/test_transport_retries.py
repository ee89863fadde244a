"""The transport's own retry policy: a request is repeated only when it never left (a connection
that could not be opened), at once; everything else goes up to the client's retry layer."""

from __future__ import annotations

import pytest
from urllib3.exceptions import ConnectTimeoutError, MaxRetryError, NewConnectionError, ProtocolError, ReadTimeoutError
from urllib3.response import HTTPResponse

from bot.forge.transport import connect_only_retries

MERGE = "/api/v3/repos/a/b/pulls/7/merge"
COMMENT = "/api/v3/repos/a/b/issues/7/comments"
REFUSED = NewConnectionError(None, "Failed to establish a new connection: [Errno 111] Connection refused")


@pytest.mark.parametrize(
    ("method", "url"),
    [("GET", "/api/v3/user"), ("POST", COMMENT), ("PUT", MERGE), ("DELETE", "/x")],
    ids=["GET", "POST-comment", "PUT-merge", "DELETE"],
)
def test_a_refused_connection_is_retried_twice_for_any_method(method: str, url: str) -> None:
    retry = connect_only_retries()
    retry = retry.increment(method, url, error=REFUSED)
    retry = retry.increment(method, url, error=REFUSED)
    assert retry.get_backoff_time() == 0  # no sleep on the worker thread
    with pytest.raises(MaxRetryError):
        retry.increment(method, url, error=REFUSED)


@pytest.mark.parametrize(
    ("error", "raised"),
    [
        (ProtocolError("Connection aborted."), ProtocolError),  # sent, answer lost
        (ReadTimeoutError(None, MERGE, "read timed out"), ReadTimeoutError),
        (ConnectTimeoutError("timed out"), MaxRetryError),  # a second wait would hold the thread
    ],
    ids=["answer-lost", "read-timeout", "connect-timeout"],
)
def test_anything_but_a_refused_connection_goes_up_at_once(error: Exception, raised: type) -> None:
    with pytest.raises(raised):
        connect_only_retries().increment("GET", MERGE, error=error)


@pytest.mark.parametrize("status", [500, 502, 503, 504, 429])
def test_no_answer_is_retried_here(status: int) -> None:
    retry = connect_only_retries()
    assert not retry.is_retry("GET", status, has_retry_after=True)
    assert not retry.is_retry("PUT", status)
    answer = HTTPResponse(status=status)
    with pytest.raises(MaxRetryError):  # asked anyway, it refuses (the adapter never asks: is_retry)
        retry.increment("GET", MERGE, response=answer)

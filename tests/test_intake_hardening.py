"""Hostile HTTP against a real `prowlet serve` process, over real sockets (bot/http_guard.py).

Compressed bodies are refused and never inflated; unfinished headers and stalled bodies are cut off;
open connections are capped; oversized and unsigned large bodies cost bounded memory; protocol
errors are one JSON log line that quotes nothing.  Memory and CPU are read from /proc/<pid>/ of the
served process (VmHWM: its peak resident set; utime + stime), with generous bounds.

Waits below (PATIENCE) are how long a test gives the server before failing, never asserted durations.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import os
import socket
import struct
import threading
import urllib.error
import urllib.request
import uuid
import zlib
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import pytest
from aiohttp import web

from bot.http_guard import (
    BODY_TIMEOUT,
    HEADER_TIMEOUT,
    LARGE_BODY_SLOTS,
    MAX_BODY,
    MAX_CONNECTIONS,
    TEST_MAX_CONNECTIONS_ENV,
    TEST_TIMEOUT_ENV,
    BodyReader,
    Limits,
)
from tests.conftest import AUTHOR, COLLAB, REPO, Bot, GuardedTestServer, seed
from tests.fakes.github import FakeGitHub
from tests.fakes.gitlab import FakeGitLab
from tests.test_serve import Served, _post, _wait_for

SHORT_TIMEOUT = "1"  # s: the served process's header and body timeouts in the tests that wait for them
PATIENCE = 20.0  # s a test waits for the server to close or answer before failing
MIB = 1024 * 1024


# ------------------------------------------------------------------------------------------------
# Harness
# ------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def forges() -> Iterator[dict[str, FakeGitHub | FakeGitLab]]:
    with FakeGitHub() as gh, FakeGitLab() as gl:
        seed(gh)
        seed(gl)
        yield {"github": gh, "gitlab": gl}


def _env(forges: dict, **extra: str) -> dict[str, str]:
    gh, gl = forges["github"], forges["gitlab"]
    return {
        "GITHUB_TOKEN": gh.token, "GITHUB_API_URL": gh.api_url, "GITHUB_WEBHOOK_SECRET": gh.webhook_secret,
        "GITLAB_TOKEN": gl.token, "GITLAB_URL": gl.api_url, "GITLAB_WEBHOOK_SECRET": gl.webhook_secret,
        **extra,
    }


@pytest.fixture(scope="module")
def served(forges: dict, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """One process for the tests that neither measure memory nor change the limits."""
    proc = Served(_env(forges, **{TEST_TIMEOUT_ENV: SHORT_TIMEOUT}), tmp_path_factory.mktemp("served"))
    yield proc
    assert proc.stop() == 0


@pytest.fixture
def fresh(forges: dict, tmp_path: Path) -> Iterator[Served]:
    """A process of its own, on the production limits, whose peak memory no other test has touched."""
    proc = Served(_env(forges), tmp_path)
    yield proc
    assert proc.stop() == 0


def _peak_rss_mib(served: Served) -> float:
    for line in Path(f"/proc/{served.proc.pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM in /proc/<pid>/status")


def _cpu_seconds(served: Served) -> float:
    """User + system CPU the served process has used (fields 14 and 15 of /proc/<pid>/stat)."""
    fields = Path(f"/proc/{served.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _connect(served: Served) -> socket.socket:
    return socket.create_connection(("127.0.0.1", served.port), timeout=PATIENCE)


def _head(path: str, headers: dict[str, str], length: int | None = None) -> bytes:
    lines = [f"POST {path} HTTP/1.1", "Host: prowlet.test", "Connection: close"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    if length is not None:
        lines.append(f"Content-Length: {length}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def _until_closed(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection; fails if it keeps it open."""
    received = b""
    try:
        while chunk := sock.recv(65536):
            received += chunk
    except ConnectionResetError:
        pass
    except TimeoutError:
        raise AssertionError(f"the server kept the connection open for {PATIENCE:.0f} s; got {received[:80]!r}")
    finally:
        sock.close()
    return received


def _status(response: bytes) -> int:
    return int(response.split(b" ", 2)[1])


def _auth_headers(forges: dict, forge: str) -> dict[str, str]:
    """Headers that pass the header-only check (GitLab's token); GitHub's signature needs the body."""
    if forge == "gitlab":
        return {"X-Gitlab-Event": "Note Hook", "X-Gitlab-Token": forges["gitlab"].webhook_secret}
    return {"X-GitHub-Event": "issue_comment", "X-GitHub-Delivery": str(uuid.uuid4())}


@cache
def _zip_bomb(encoding: str, inflated: int = 1024 * MIB, chunk: int = 16 * MIB) -> bytes:
    """About 1 MiB that inflates to ``inflated`` bytes of zeros: a valid zlib or gzip stream, built from
    one full-flushed deflate block repeated (compressing 1 GiB outright takes seconds)."""
    zeros = bytes(chunk)
    raw = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = raw.compress(zeros) + raw.flush(zlib.Z_FULL_FLUSH)  # byte-aligned; refers to nothing before it
    blocks = block * (inflated // chunk) + raw.flush()
    if encoding == "deflate":
        adler = 1
        for _ in range(inflated // chunk):
            adler = zlib.adler32(zeros, adler)
        return b"\x78\xda" + blocks + struct.pack(">I", adler)
    crc = 0
    for _ in range(inflated // chunk):
        crc = zlib.crc32(zeros, crc)
    return b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff" + blocks + struct.pack("<II", crc, inflated % 2**32)


def test_the_zip_bomb_is_one() -> None:
    bomb = _zip_bomb("gzip", inflated=64 * MIB)
    assert len(bomb) < 100 * 1024
    assert zlib.decompress(bomb, 31) == bytes(64 * MIB)


# ------------------------------------------------------------------------------------------------
# Compressed bodies: 415, never inflated
# ------------------------------------------------------------------------------------------------


def test_compressed_bodies_are_refused_without_inflating(fresh: Served, forges: dict) -> None:
    before, cpu_before = _peak_rss_mib(fresh), _cpu_seconds(fresh)
    for forge in ("github", "gitlab"):
        for encoding in ("deflate", "gzip"):
            bomb = _zip_bomb(encoding)
            sock = _connect(fresh)
            sock.sendall(_head(f"/hook/{forge}", {**_auth_headers(forges, forge), "Content-Encoding": encoding},
                               len(bomb)) + bomb)
            response = _until_closed(sock)
            assert _status(response) == 415, (forge, encoding, response[:200])
            assert b"compressed request bodies are not accepted" in response
    # Refusing costs next to nothing.  aiohttp inflates in bounded steps as the body is consumed, so
    # inflation shows as CPU (measured: ~11 s for these four bombs with auto-decompression on, 0.0 s
    # off) more than as memory: the process's own CPU seconds, not wall-clock time, so load elsewhere
    # on the machine does not move them.
    assert _cpu_seconds(fresh) - cpu_before < 2, "the server spent seconds of CPU: something inflated the bodies"
    assert _peak_rss_mib(fresh) - before < 24, "the server's peak memory grew: something inflated the body"


# ------------------------------------------------------------------------------------------------
# Slow clients: unfinished headers, stalled bodies, many of them at once, more than the cap
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("sent, answered", [
    pytest.param(b"POST /hook/git", b"", id="half-a-request-line"),
    pytest.param(b"POST /hook/github HTTP/1.1\r\nHost: x\r\nX-GitHub-Event: ping\r\n", b"", id="headers-without-end"),
    pytest.param(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\nGET /heal", b"HTTP/1.1 200 OK",
                 id="next-request-on-keep-alive"),
])
def test_unfinished_headers_are_cut_off(served: Served, sent: bytes, answered: bytes) -> None:
    sock = _connect(served)
    sock.sendall(sent)
    response = _until_closed(sock)
    assert response.startswith(answered)
    assert response.count(b"HTTP/1.1 ") == (1 if answered else 0)


@pytest.mark.parametrize("forge", ["github", "gitlab"])
def test_a_stalled_body_is_cut_off(served: Served, forges: dict, forge: str) -> None:
    sock = _connect(served)
    sock.sendall(_head(f"/hook/{forge}", _auth_headers(forges, forge), 10_000) + b'{"object_kind": ')
    response = _until_closed(sock)
    assert _status(response) == 408
    assert b"request body not received in time" in response


def test_signed_deliveries_are_accepted_while_half_open_connections_are_held(served: Served, forges: dict) -> None:
    held = []
    for i in range(400):
        forge = ("github", "gitlab")[i % 2]
        sock = _connect(served)
        if i % 4 < 2:  # headers that never finish
            sock.sendall(_head(f"/hook/{forge}", _auth_headers(forges, forge))[:-4])
        else:  # a body that never arrives
            sock.sendall(_head(f"/hook/{forge}", _auth_headers(forges, forge), 5000) + b"{")
        held.append(sock)
    for fake in forges.values():
        number, opened = fake.open_pull(REPO, author=AUTHOR)
        assert _post(served.base, opened) in (200, 202)
        assert _post(served.base, fake.comment(REPO, number, COLLAB, "/hold")) == 202
        _wait_for(lambda: "do-not-merge/hold" in fake.labels(REPO, number), f"{fake.name} label")
    answers = [_until_closed(sock) for sock in held]  # every one closed by the server
    assert [_status(a) if a else None for a in answers] == [None, None, 408, 408] * 100


def test_connections_beyond_the_cap_are_closed_at_once(forges: dict, tmp_path: Path) -> None:
    cap = 20
    # Header timeout far beyond PATIENCE: a connection closed within PATIENCE was closed by the cap.
    served = Served(_env(forges, **{TEST_MAX_CONNECTIONS_ENV: str(cap), TEST_TIMEOUT_ENV: "120"}), tmp_path)
    try:
        probe = _connect(served)  # the start-up health checks' connections are gone once this one is
        probe.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert _status(_until_closed(probe)) == 200
        held = [_connect(served) for _ in range(cap)]
        for sock in held:
            sock.sendall(b"GET /healthz HTTP/1.1\r\n")
        extra = [_connect(served) for _ in range(5)]
        assert [_until_closed(sock) for sock in extra] == [b""] * 5
        for sock in held:  # still open: nothing to read, no EOF
            sock.setblocking(False)
            with pytest.raises(BlockingIOError):
                sock.recv(1)
            sock.close()
        _wait_for(lambda: _healthz_status(served) == 200, "a connection once the held ones are gone")
    finally:
        assert served.stop() == 0
    assert any(line.get("event") == "connection limit reached; new connections closed" and line["limit"] == cap
               for line in served.log_lines())


def _healthz_status(served: Served) -> int | None:
    sock = _connect(served)
    try:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        response = _until_closed(sock)
    except OSError:
        return None
    return _status(response) if response else None


# ------------------------------------------------------------------------------------------------
# Large bodies: refused unread over the cap, read a few at a time below it
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("forge", ["github", "gitlab"])
def test_a_body_over_the_cap_is_refused_unread(served: Served, forges: dict, forge: str) -> None:
    sock = _connect(served)
    sock.sendall(_head(f"/hook/{forge}", _auth_headers(forges, forge), MAX_BODY + 1))  # and no body at all
    response = _until_closed(sock)
    assert _status(response) == 413
    assert b"body larger than 25 MB" in response


def test_gitlab_checks_its_token_before_reading_the_body(served: Served, forges: dict) -> None:
    sock = _connect(served)
    sock.sendall(_head("/hook/gitlab", {"X-Gitlab-Event": "Note Hook", "X-Gitlab-Token": "wrong"}, 20 * MIB))
    assert _status(_until_closed(sock)) == 401


def test_concurrent_large_unsigned_bodies_are_not_all_buffered_at_once(fresh: Served) -> None:
    body = b"x" * (20 * MIB)
    bad_signature = "sha256=" + hmac.new(b"not-the-secret", body, hashlib.sha256).hexdigest()
    statuses: list[int] = []

    def post() -> None:
        req = urllib.request.Request(fresh.base + "/hook/github", data=body, method="POST", headers={
            "X-GitHub-Event": "issue_comment", "X-GitHub-Delivery": str(uuid.uuid4()),
            "X-Hub-Signature-256": bad_signature, "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=60) as resp:
                statuses.append(resp.status)
        except urllib.error.HTTPError as err:
            statuses.append(err.code)

    before = _peak_rss_mib(fresh)
    threads = [threading.Thread(target=post) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert statuses == [401] * 16
    # Sixteen 20 MiB bodies buffered together would be ≥ 320 MiB; four slots held ~150 MiB (unbounded: ~310).
    assert _peak_rss_mib(fresh) - before < 220


async def test_large_bodies_beyond_the_slots_get_503_until_one_is_free() -> None:
    reader = BodyReader(Limits(body_timeout=60, large_body_wait=0.2))

    async def read(request: web.Request) -> web.Response:
        return web.Response(text=str(len(await reader.read(request))))

    app = web.Application(client_max_size=MAX_BODY)
    app.router.add_post("/", read)
    large = 2 * MIB

    async def status(data: bytes) -> int:
        r, w = await asyncio.open_connection("127.0.0.1", server.port)
        w.write(data)
        response = await asyncio.wait_for(r.read(), PATIENCE)
        w.close()
        return _status(response)

    async with GuardedTestServer(app) as server:
        holders = []
        for _ in range(LARGE_BODY_SLOTS):  # each takes a slot and sends one byte of its body
            r, w = await asyncio.open_connection("127.0.0.1", server.port)
            w.write(_head("/", {}, large) + b"x")
            holders.append(w)
        whole = _head("/", {}, large) + bytes(large)
        for _ in range(50):  # until the holders' handlers have their slots (it takes a loop step or two)
            if (answer := await status(whole)) == 503:
                break
        assert answer == 503
        holders.pop().close()  # a slot frees up when that read fails
        for _ in range(50):
            if (answer := await status(whole)) == 200:
                break
        assert answer == 200
        for w in holders:
            w.close()


# ------------------------------------------------------------------------------------------------
# Protocol errors: one JSON line, no traceback, nothing echoed
# ------------------------------------------------------------------------------------------------

MARKER = "Zq7-echo-marker"


@pytest.mark.parametrize("request_bytes", [
    pytest.param(f"G\x01T /{MARKER} HTTP/1.1\r\nHost: x\r\n\r\n".encode(), id="bad-method"),
    pytest.param(f"GET /{MARKER} HTTP/9.z\r\nHost: x\r\n\r\n".encode(), id="bad-version"),
    pytest.param(f"GET / HTTP/1.1\r\nX-{MARKER}: {'a' * 9000}\r\n\r\n".encode(), id="header-too-long"),
    pytest.param(f"GET / HTTP/1.1\r\n{MARKER} no colon\r\n\r\n".encode(), id="header-without-colon"),
])
def test_protocol_errors_are_one_log_line_without_echo(served: Served, request_bytes: bytes) -> None:
    def malformed() -> list[dict]:
        return [line for line in served.log_lines() if line.get("event") == "malformed HTTP request"]

    logged = len(malformed())
    sock = _connect(served)
    sock.sendall(request_bytes)
    response = _until_closed(sock)
    assert _status(response) == 400
    assert response.endswith(b"\r\n\r\n400 Bad Request\n")
    assert MARKER.encode() not in response
    _wait_for(lambda: len(malformed()) > logged, "the log line")
    [line] = malformed()[logged:]
    assert line["level"] == "warning" and line["status"] == 400 and line["error"]
    assert "exception" not in line
    text = served.log_path.read_text()
    assert MARKER not in text and "Traceback" not in text
    assert all(raw.startswith("{") for raw in text.splitlines()), "a log line that is not JSON"


# ------------------------------------------------------------------------------------------------
# In process: which Content-Encodings are refused; the test-only limits
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("encoding, refused", [
    pytest.param("gzip", True, id="gzip"),
    pytest.param("deflate", True, id="deflate"),
    pytest.param("br", True, id="br"),
    pytest.param("GZip", True, id="case-insensitive"),
    pytest.param("gzip, identity", True, id="a-list"),
    pytest.param("identity", False, id="identity"),
    pytest.param("", False, id="empty"),
])
async def test_content_encodings(bot: Bot, encoding: str, refused: bool) -> None:
    delivery = bot.fake.comment(REPO, bot.fake.open_pull(REPO, author=AUTHOR)[0], COLLAB, "/hold")
    status = await bot.post(type(delivery)(delivery.path, {**delivery.headers, "Content-Encoding": encoding},
                                           delivery.body))
    assert (status == web.HTTPUnsupportedMediaType.status_code) is refused
    assert status in (415, 202)


@pytest.mark.parametrize("env, expected", [
    pytest.param({}, Limits(HEADER_TIMEOUT, BODY_TIMEOUT, MAX_CONNECTIONS), id="production"),
    pytest.param({TEST_TIMEOUT_ENV: "1.5"}, Limits(1.5, 1.5, MAX_CONNECTIONS), id="short-timeouts"),
    pytest.param({TEST_MAX_CONNECTIONS_ENV: "7"}, Limits(HEADER_TIMEOUT, BODY_TIMEOUT, 7), id="small-cap"),
    pytest.param({TEST_TIMEOUT_ENV: "", TEST_MAX_CONNECTIONS_ENV: "0"}, Limits(), id="empty-means-default"),
])
def test_limits_from_the_environment(env: dict[str, str], expected: Limits) -> None:
    assert Limits.from_env(env) == expected


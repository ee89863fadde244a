"""What an unauthenticated client can make the webhook listener do: little, briefly, in bounded memory.

Anyone who can reach the port can talk HTTP to us before any signature is checked, so the listener
itself is bounded (GitHub and GitLab send small, uncompressed, promptly delivered bodies):

* compressed bodies are refused (415) and never inflated — the parser's auto-decompression is off;
* request headers must be complete within HEADER_TIMEOUT, a body must arrive within BODY_TIMEOUT,
  and idle keep-alive connections close after KEEPALIVE_TIMEOUT;
* at most MAX_CONNECTIONS open connections per process; further ones are closed at once;
* a body over MAX_BODY is refused (413) from its Content-Length, before reading; bodies over
  LARGE_BODY are read LARGE_BODY_SLOTS at a time (the GitHub signature covers the body, so it has to
  be read before it can be checked);
* protocol errors (a bad request line, oversized headers ...) are one structured log line and a fixed
  400 text — no traceback, and no request bytes echoed into the log or the response.

``serve()`` runs the app with all of this; ``BodyReader`` is the part the handlers call (bot/intake.py).
"""

from __future__ import annotations

import asyncio
import faulthandler
import os
import signal
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson
import structlog
from aiohttp import hdrs, web
from aiohttp.http_exceptions import HttpProcessingError

log = structlog.get_logger("prowlet.http")

MAX_BODY = 25 * 1024 * 1024  # GitHub caps webhook payloads at 25 MB
HEADER_TIMEOUT = 10.0  # s from connection open (or the previous response) to complete request headers
KEEPALIVE_TIMEOUT = HEADER_TIMEOUT  # s an idle keep-alive connection stays open (forges rarely reuse one)
BODY_TIMEOUT = 10.0  # s for the whole body; GitHub gives up on a delivery after 10 s anyway (≥ 2.5 MB/s at MAX_BODY)
MAX_CONNECTIONS = 1_000  # open connections per process, well under the usual 1,024+ file descriptors
MAX_HEADERS = 64  # header lines per request (forges send ~15); at aiohttp's 8 KiB a line, ≤ 512 KiB a connection
LARGE_BODY = 1024 * 1024  # bodies above this (or of unknown length) are read under LARGE_BODY_SLOTS
LARGE_BODY_SLOTS = 4  # large bodies read at once: ≤ 4 × 25 MB (× 2 while joined) before a signature check
LARGE_BODY_WAIT = 5.0  # s a large body waits for a slot before 503 (the forge's 10 s timeout still holds)
LINGER = 2.0  # s an answered request's unread body is still read (and dropped), so the client sees the answer
REFUSAL_LOG_INTERVAL = 60.0  # s between "connection limit reached" lines while the limit holds
PROTOCOL_ERROR_TEXT = "400 Bad Request\n"  # fixed: aiohttp's own page quotes the offending bytes

# Test-only overrides (short timeouts, a small connection cap), so tests take seconds; production
# runs on the constants above.  Not configuration, hence not in config.yaml.
TEST_TIMEOUT_ENV = "PROWLET_TEST_HTTP_TIMEOUT"
TEST_MAX_CONNECTIONS_ENV = "PROWLET_TEST_MAX_CONNECTIONS"


@dataclass(frozen=True)
class Limits:
    header_timeout: float = HEADER_TIMEOUT
    body_timeout: float = BODY_TIMEOUT
    max_connections: int = MAX_CONNECTIONS
    large_body_wait: float = LARGE_BODY_WAIT

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> Limits:
        timeout = float(environ.get(TEST_TIMEOUT_ENV) or 0)
        connections = int(environ.get(TEST_MAX_CONNECTIONS_ENV) or 0)
        return cls(
            header_timeout=timeout or HEADER_TIMEOUT,
            body_timeout=timeout or BODY_TIMEOUT,
            max_connections=connections or MAX_CONNECTIONS,
        )


def refusal(cls: type[web.HTTPException], message: str, **kwargs: Any) -> web.HTTPException:
    """An HTTP error with the JSON body intake answers with (``{"status": message}``)."""
    return cls(text=orjson.dumps({"status": message}).decode(), content_type="application/json", **kwargs)


# ------------------------------------------------------------------------------------------------
# In the handlers: reading a body in bounded time and memory
# ------------------------------------------------------------------------------------------------


class BodyReader:
    """Reads a webhook body: refuses a compressed one or one over MAX_BODY unread, reads large ones
    a few at a time, and gives up on one that does not arrive within the body timeout."""

    def __init__(self, limits: Limits = Limits()) -> None:
        self._timeout = limits.body_timeout
        self._slot_wait = limits.large_body_wait
        self._large_slots = asyncio.Semaphore(LARGE_BODY_SLOTS)

    async def read(self, request: web.Request) -> bytes:
        # GitHub and GitLab never compress webhooks; a compressed body is a 1,000:1 amplifier (and with
        # the parser's auto-decompression off, reading it would only yield the compressed bytes).
        encoding = request.headers.get(hdrs.CONTENT_ENCODING)
        if encoding is not None and encoding.strip().lower() not in ("", "identity"):
            raise refusal(web.HTTPUnsupportedMediaType, "compressed request bodies are not accepted")
        length = request.content_length
        if length is not None and length > MAX_BODY:
            raise refusal(web.HTTPRequestEntityTooLarge, "body larger than 25 MB",
                          max_size=MAX_BODY, actual_size=length)
        if length is not None and length <= LARGE_BODY:
            return await self._read(request)
        try:
            async with asyncio.timeout(self._slot_wait):
                await self._large_slots.acquire()
        except TimeoutError:
            raise refusal(web.HTTPServiceUnavailable, "busy, redeliver later") from None
        try:
            return await self._read(request)
        finally:
            self._large_slots.release()

    async def _read(self, request: web.Request) -> bytes:
        if request.content.is_eof():  # already all here (the usual small webhook): no timer needed
            return await request.read()
        try:
            async with asyncio.timeout(self._timeout):
                return await request.read()  # over client_max_size (chunked bodies): aiohttp's 413
        except TimeoutError:
            # The connection closes after the answer (and at most LINGER more seconds of reading).
            raise refusal(web.HTTPRequestTimeout, "request body not received in time") from None


# ------------------------------------------------------------------------------------------------
# In the protocol: header deadline, connection cap, protocol errors
# ------------------------------------------------------------------------------------------------
#
# aiohttp's hook for all of these is the protocol factory: the listening socket calls the runner's
# ``Server`` once per accepted connection and gets a ``RequestHandler`` (the asyncio protocol that
# parses requests).  GuardedAppRunner builds a ``_GuardedServer`` instead, whose factory refuses
# connections beyond the cap and returns a ``_GuardedRequestHandler``.
#
# Header deadline: aiohttp closes a keep-alive connection whose next request has not fully arrived
# ``keepalive_timeout`` after the previous response, but before 3.14.4 had no deadline for the
# *first* request: a client that connected and sent half a request line was kept for ever (3.14.4
# arms the same timer at connection open).  So each connection gets its own watchdog at
# connection_made, disarmed once the first request's headers are parsed (the server's
# request_factory runs once per parsed request); keepalive_timeout, set no longer than the header
# timeout, covers every later request.  The body is the handlers' business (BodyReader).


class _Refused(asyncio.Protocol):
    """The protocol for a connection over the cap: closed as soon as it is made."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport.abort()


class _GuardedRequestHandler(web.RequestHandler):
    def __init__(self, manager: _GuardedServer, *, header_timeout: float, **kwargs: Any) -> None:
        super().__init__(manager, **kwargs)
        self._guard = manager
        self._header_timeout = header_timeout
        self._header_watchdog: asyncio.TimerHandle | None = None
        self._counted = True  # in the server's open-connection count until connection_lost

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self._header_watchdog = asyncio.get_running_loop().call_later(self._header_timeout, self._headers_overdue)

    def headers_complete(self) -> None:
        if self._header_watchdog is not None:
            self._header_watchdog.cancel()
            self._header_watchdog = None

    def _headers_overdue(self) -> None:
        self._header_watchdog = None
        log.debug("request headers not complete in time; connection closed", peer=self.peername)
        self.force_close()

    def connection_lost(self, exc: BaseException | None) -> None:
        self.headers_complete()  # nothing left to watch
        if self._counted:
            self._counted = False
            self._guard.connection_closed()
        super().connection_lost(exc)

    def handle_error(
        self, request: web.BaseRequest, status: int = 500, exc: BaseException | None = None, message: str | None = None
    ) -> web.StreamResponse:
        if not isinstance(exc, HttpProcessingError):
            return super().handle_error(request, status, exc, message)  # a handler's own failure: keep the traceback
        # The parser's message quotes the offending bytes: log the error's kind only, answer a fixed text.
        log.warning("malformed HTTP request", status=status, error=type(exc).__name__, peer=request.remote)
        if request.writer.output_size > 0:
            raise ConnectionError("response already started; cannot send the error")
        response = web.Response(status=status, text=PROTOCOL_ERROR_TEXT)
        response.force_close()
        return response


class _GuardedServer(web.Server):
    def __init__(self, server: web.Server, limits: Limits) -> None:
        # The same handler, request factory and protocol settings aiohttp's Application gave ``server``
        # (aiohttp keeps the settings only in ``_kwargs``; the serve tests fail if that changes).
        super().__init__(server.request_handler, request_factory=self._noting_headers(server.request_factory),
                         handler_cancellation=server.handler_cancellation, **server._kwargs)
        self._limits = limits
        self._open = 0  # counted here, at accept: aiohttp registers a connection a loop step later
        self._refused = 0
        self._last_refusal_log = float("-inf")

    @staticmethod
    def _noting_headers(factory: Callable[..., web.BaseRequest]) -> Callable[..., web.BaseRequest]:
        def make_request(message: Any, payload: Any, protocol: Any, writer: Any, task: Any) -> web.BaseRequest:
            protocol.headers_complete()
            return factory(message, payload, protocol, writer, task)

        return make_request

    def __call__(self) -> Any:  # the protocol factory: once per accepted connection
        if self._open >= self._limits.max_connections:
            self._refused += 1
            now = time.monotonic()
            if now - self._last_refusal_log >= REFUSAL_LOG_INTERVAL:
                log.warning("connection limit reached; new connections closed", limit=self._limits.max_connections,
                            refused=self._refused)
                self._last_refusal_log, self._refused = now, 0
            return _Refused()
        self._open += 1
        return _GuardedRequestHandler(self, loop=self._loop, header_timeout=self._limits.header_timeout, **self._kwargs)

    def connection_closed(self) -> None:
        self._open -= 1


class GuardedAppRunner(web.AppRunner):
    """``web.AppRunner`` with the protocol settings and the guarded protocol factory above."""

    def __init__(self, app: web.Application, limits: Limits = Limits(), **kwargs: Any) -> None:
        super().__init__(
            app,
            auto_decompress=False,  # the parser would inflate a body as it arrives, before any handler runs
            keepalive_timeout=min(KEEPALIVE_TIMEOUT, limits.header_timeout),
            lingering_time=LINGER,  # then the connection closes (aiohttp's default waits 10 s)
            max_headers=MAX_HEADERS,
            **kwargs,
        )
        self._limits = limits

    async def _make_server(self) -> web.Server:
        return _GuardedServer(await super()._make_server(), self._limits)


async def _serve(app: web.Application, host: str, port: int, limits: Limits, shutdown_timeout: float) -> None:
    runner = GuardedAppRunner(app, limits, access_log=None, shutdown_timeout=shutdown_timeout)
    await runner.setup()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    loop.add_signal_handler(signal.SIGUSR1, dump_state)
    try:
        await web.TCPSite(runner, host, port).start()
        await stop.wait()
    finally:
        # Before asyncio.run cancels what is left: the app's on_shutdown drains the queue first.
        await runner.cleanup()


def dump_state() -> None:
    """``kill -USR1 <pid>``: what every task and thread is doing, for an operator whose prowlet
    seems stuck (stderr: the tasks' stacks as one log line each, then every thread's stack)."""
    for task in asyncio.all_tasks():
        log.warning("task", task=task.get_name(), awaiting=_await_chain(task.get_coro()))
    faulthandler.dump_traceback(all_threads=True)


def _await_chain(coro: Any) -> list[str]:
    """Where a suspended coroutine waits, outermost first (a task's own stack shows one frame)."""
    chain = []
    while coro is not None:
        frame = getattr(coro, "cr_frame", None) or getattr(coro, "gi_frame", None)
        if frame is not None:
            chain.append(f"{frame.f_code.co_filename}:{frame.f_lineno} {frame.f_code.co_name}")
        coro = getattr(coro, "cr_await", None) or getattr(coro, "gi_yieldfrom", None)
    return chain


def serve(app: web.Application, host: str, port: int, limits: Limits = Limits(), shutdown_timeout: float = 60) -> None:
    """``web.run_app`` with the guarded runner: serves until SIGTERM / SIGINT, then shuts down cleanly."""
    asyncio.run(_serve(app, host, port, limits, shutdown_timeout))

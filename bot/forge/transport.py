"""The HTTP transport under both SDKs: conditional requests and a meter of what goes over the wire.

Why here, below the SDKs, and not in the client's caching layer: a conditional request needs the
response's validators (ETag, Last-Modified) and the bytes to answer a 304 with, and only the HTTP
layer sees them.  PyGithub and python-gitlab both send through a ``requests`` session; a
``ConditionalAdapter`` mounted on it adds ``If-None-Match`` (or ``If-Modified-Since``) to a GET it
has answered before, and turns a ``304 Not Modified`` back into the ``200`` it stands for, so the
SDKs parse it as ever and never know.  GitHub does not count an authenticated 304 against the
rate limit; GitLab answers it without rendering the body (it still counts the request).

Retries: the transport repeats a request only when it never left — the connection was refused or
could not be opened (``connect_only_retries``).  Nothing reached the forge, so a repeat is harmless
for every method (a comment, a merge) and costs the forge nothing, and it is immediate: no worker
thread sleeps.  It matters most for what the client's retry layer must not repeat (a comment, a
merge, a pipeline start), where only the transport knows for sure that nothing was sent.  Every
other failure — a 5xx, a connection lost after sending, a timeout — goes up at once as it is, and
the client's retry layer (``bot.forge.layers.Retrying``) decides by the method's policy: one
request per attempt, waits awaited rather than slept on a thread.

Validators and bodies are kept per (credential, URL) — the credential only as a hash, since two
identities may see different answers — in an LRU bounded by bytes.  With a shared state store
(Redis, ``PROWLET_REDIS_URL``) they are also kept there, so a replica revalidates what another read.
"""

from __future__ import annotations

import asyncio
import hashlib
import threading
import time
from collections import Counter, OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import requests
import structlog
from requests.adapters import HTTPAdapter
from requests.structures import CaseInsensitiveDict
from urllib3.exceptions import NewConnectionError
from urllib3.util import Retry

if TYPE_CHECKING:
    from bot.store.base import StateStore

log = structlog.get_logger("prowlet.forge")

_CREDENTIAL_HEADERS = ("Authorization", "PRIVATE-TOKEN", "JOB-TOKEN")
# Headers of the 304 that replace the stored ones (rate-limit counters, dates); never the body's.
_BODY_HEADERS = frozenset({"content-length", "content-encoding", "transfer-encoding", "content-type"})
SHARED_NS = "etag"
SHARED_TTL = 86_400.0  # a day: a validator older than that is rarely still current
_SHARED_MAX_BODY = 256 * 1024  # larger bodies stay in this process only
_SHARED_WAIT = 2.0  # seconds a worker thread waits for the shared store before reading without it


@dataclass(frozen=True)
class Stored:
    """A 200 answer to a GET and its validators."""

    etag: str | None
    last_modified: str | None
    headers: dict[str, str]
    body: bytes

    @property
    def size(self) -> int:
        return len(self.body) + 200

    def to_json(self) -> dict[str, Any]:
        return {"etag": self.etag, "last_modified": self.last_modified, "headers": self.headers,
                "body": self.body.decode("utf-8")}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Stored:
        return cls(data.get("etag"), data.get("last_modified"), dict(data.get("headers") or {}),
                   str(data.get("body") or "").encode("utf-8"))


class ConditionalCache:
    """Stored answers by key, least recently used first out, within ``max_bytes``; thread-safe
    (the SDKs run on a thread pool)."""

    def __init__(self, max_bytes: int = 32 * 1024 * 1024, max_entry: int = 4 * 1024 * 1024) -> None:
        self.max_bytes = max_bytes
        self.max_entry = max_entry
        self._entries: OrderedDict[str, Stored] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self._shared: SharedValidators | None = None

    def share(self, shared: SharedValidators) -> None:
        self._shared = shared

    def get(self, key: str) -> Stored | None:
        with self._lock:
            found = self._entries.get(key)
            if found is not None:
                self._entries.move_to_end(key)
                return found
        if self._shared is not None:
            found = self._shared.get(key)
            if found is not None:
                self._keep(key, found)
        return found

    def put(self, key: str, stored: Stored) -> None:
        if stored.size > self.max_entry:
            return
        self._keep(key, stored)
        if self._shared is not None:
            self._shared.put(key, stored)

    def _keep(self, key: str, stored: Stored) -> None:
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self._bytes -= old.size
            self._entries[key] = stored
            self._bytes += stored.size
            while self._bytes > self.max_bytes and self._entries:
                _, evicted = self._entries.popitem(last=False)
                self._bytes -= evicted.size

    @property
    def bytes(self) -> int:
        return self._bytes


class SharedValidators:
    """The second level of ``ConditionalCache``: the state store shared by replicas.  Called from
    worker threads; each store call runs on the event loop that owns the store."""

    def __init__(self, state: StateStore, loop: asyncio.AbstractEventLoop) -> None:
        self._state = state
        self._loop = loop

    def get(self, key: str) -> Stored | None:
        try:
            data = asyncio.run_coroutine_threadsafe(self._state.get(SHARED_NS, key), self._loop).result(_SHARED_WAIT)
        except Exception as err:  # the store is an optimisation here: read without it
            log.debug("shared validators unavailable", error=str(err))
            return None
        return Stored.from_json(data) if isinstance(data, dict) else None

    def put(self, key: str, stored: Stored) -> None:
        if len(stored.body) > _SHARED_MAX_BODY:
            return
        try:
            value = stored.to_json()
        except UnicodeDecodeError:
            return  # not text (a raw file): kept in this process only
        # Not waited for: the answer is already in hand.
        asyncio.run_coroutine_threadsafe(self._state.put(SHARED_NS, key, value, ttl=SHARED_TTL), self._loop)


class RequestMeter:
    """What went over the wire: every request, writes, and 304s apart (free on GitHub); and the
    rate limit the forge reports, with one warning line when it runs low."""

    def __init__(self, forge: str, low_fraction: float = 0.1) -> None:
        self.forge = forge
        self.low_fraction = low_fraction
        self.counts: Counter[str] = Counter()  # "requests", "writes", "not_modified", "status:NNN"
        self.by_method_status: Counter[tuple[str, int]] = Counter()  # for /metrics (bot/metrics.py)
        self.remaining: int | None = None
        self.limit: int | None = None
        self.reset_at: float | None = None  # epoch seconds
        self._warned = False
        self._lock = threading.Lock()

    @property
    def counted(self) -> int:
        """Requests that count against the rate limit: all but the 304s."""
        return self.counts["requests"] - self.counts["not_modified"]

    def record(self, method: str, status: int, headers: Any, query: bool = False) -> None:
        """``query``: a POST that only reads (a GraphQL query), not a write."""
        with self._lock:
            self.counts["requests"] += 1
            self.counts[f"status:{status}"] += 1
            self.by_method_status[(method, status)] += 1
            if method != "GET" and method != "HEAD" and not query:
                self.counts["writes"] += 1
            if status == 304:
                self.counts["not_modified"] += 1
            self._rate_limit(headers)

    def _rate_limit(self, headers: Any) -> None:
        remaining = headers.get("X-RateLimit-Remaining") or headers.get("RateLimit-Remaining")
        limit = headers.get("X-RateLimit-Limit") or headers.get("RateLimit-Limit")
        reset = headers.get("X-RateLimit-Reset") or headers.get("RateLimit-Reset")
        try:
            if remaining is None or limit is None:
                return
            self.remaining, self.limit = int(float(remaining)), int(float(limit))
            self.reset_at = float(reset) if reset else None
        except ValueError:
            return
        low = self.remaining < self.limit * self.low_fraction
        if low and not self._warned:
            log.warning("forge rate limit running low", forge=self.forge, remaining=self.remaining,
                        limit=self.limit, resets_in=round(self.reset_at - time.time()) if self.reset_at else None)
        self._warned = low


class _ConnectOnly(Retry):
    """Retries a connection that could not be opened (refused, unreachable, no such host), and
    nothing else: a connect *timeout* is not one of them, as repeating it would hold a worker
    thread for another timeout; the retry layer waits without one."""

    def _is_connection_error(self, err: Exception) -> bool:
        return isinstance(err, NewConnectionError)


def connect_only_retries(attempts: int = 2) -> Retry:
    """The transport's retry policy (module docstring): ``attempts`` more connections, at once."""
    return _ConnectOnly(
        total=None, connect=attempts, read=False, status=0, other=0,
        status_forcelist=(), backoff_factor=0, respect_retry_after_header=False,
        raise_on_status=False,  # a 5xx goes to the SDK as it is, which raises it with its status
    )


def retry_after(headers: Any, now: float | None = None) -> float | None:
    """Seconds a refused request asks to wait: ``Retry-After`` (seconds), else until the rate
    limit's reset (``X-RateLimit-Reset`` / ``RateLimit-Reset``, epoch seconds); None if neither."""
    if not headers:
        return None
    try:
        after = headers.get("Retry-After") or headers.get("retry-after")
        if after is not None:
            return max(0.0, float(after))
        reset = (headers.get("X-RateLimit-Reset") or headers.get("x-ratelimit-reset")
                 or headers.get("RateLimit-Reset") or headers.get("ratelimit-reset"))
        if reset is not None:
            return max(0.0, float(reset) - (time.time() if now is None else now))
    except (TypeError, ValueError):
        return None
    return None


class Transport:
    """What an adapter's HTTP goes through: one per adapter (one forge identity)."""

    def __init__(self, forge: str, cache: ConditionalCache | None = None) -> None:
        self.cache = cache if cache is not None else ConditionalCache()
        self.meter = RequestMeter(forge)
        self._last = threading.local()  # each SDK call runs on one worker thread

    def last_headers(self) -> Any:
        """The headers of the latest answer on this thread (for errors the SDK drops them from)."""
        return getattr(self._last, "headers", None)

    def mount(self, session: requests.Session, **adapter_options: Any) -> None:
        """Send ``session``'s requests through this transport; the SDK's own retry policy, if it
        passes one, is replaced by the transport's (``connect_only_retries``)."""
        adapter_options["max_retries"] = connect_only_retries()
        adapter = ConditionalAdapter(self, **adapter_options)
        session.mount("https://", adapter)
        session.mount("http://", adapter)

    def share(self, state: StateStore, loop: asyncio.AbstractEventLoop) -> None:
        """Keep validators in ``state`` too (replicas share them)."""
        self.cache.share(SharedValidators(state, loop))


def _cache_key(request: requests.PreparedRequest) -> str:
    credential = next((request.headers[h] for h in _CREDENTIAL_HEADERS if h in request.headers), "")
    # Only a hash of the credential: the key may be stored in Redis and logged in debug output.
    return hashlib.sha256(f"{credential}\n{request.url}".encode()).hexdigest()


class ConditionalAdapter(HTTPAdapter):
    """Sends GETs conditionally when an earlier answer is stored; answers a 304 with it."""

    def __init__(self, transport: Transport, **options: Any) -> None:
        super().__init__(**options)
        self._transport = transport

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        cache, meter = self._transport.cache, self._transport.meter
        conditional = request.method == "GET" and not kwargs.get("stream") and not any(
            h in request.headers for h in ("If-None-Match", "If-Modified-Since", "Range"))
        key = _cache_key(request) if conditional else ""
        stored = cache.get(key) if conditional else None
        if stored is not None:
            if stored.etag:
                request.headers["If-None-Match"] = stored.etag
            elif stored.last_modified:
                request.headers["If-Modified-Since"] = stored.last_modified
        response = super().send(request, **kwargs)
        graphql = (request.path_url or "").split("?")[0].endswith("/graphql")
        meter.record(request.method or "", response.status_code, response.headers, query=graphql)
        self._transport._last.headers = response.headers
        if stored is not None and response.status_code == 304:
            return _replay(stored, response)
        if conditional and response.status_code == 200:
            etag, modified = response.headers.get("ETag"), response.headers.get("Last-Modified")
            if etag or modified:
                headers = {k: v for k, v in response.headers.items() if k.lower() not in _BODY_HEADERS - {"content-type"}}
                cache.put(key, Stored(etag, modified, headers, response.content))
        return response


def _replay(stored: Stored, not_modified: requests.Response) -> requests.Response:
    """The stored 200, with the 304's fresher headers (rate-limit counters, date) over it."""
    response = requests.Response()
    response.status_code = 200
    response.reason = "OK"
    headers = CaseInsensitiveDict(stored.headers)
    for name, value in not_modified.headers.items():
        if name.lower() not in _BODY_HEADERS:
            headers[name] = value
    response.headers = headers
    response._content = stored.body
    response.encoding = requests.utils.get_encoding_from_headers(headers) or "utf-8"
    response.url = not_modified.url
    response.request = not_modified.request
    response.connection = not_modified.connection
    response.elapsed = not_modified.elapsed
    response.raw = not_modified.raw
    return response

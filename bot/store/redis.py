"""The shared stores on Redis (``PROWLET_REDIS_URL``): what several prowlet processes (replicas) use.

Every change that touches more than one key is one Lua script, so it is atomic and one round trip.
The scripts read the clock with Redis' ``TIME``: leases and retry times are judged by one clock for
every replica, not by each host's own.  They build key names from the prefix, so they need one
Redis server (a primary, Sentinel-managed or not) — not Redis Cluster — and they carry Redis 7
script flags (Redis 7.0 or newer): a Redis at its maxmemory refuses new events and state, but still
lets consumers claim, ack, fail and purge, so the queue can drain.

Keys, under the prefix ``p`` (default "prowlet"; tests and deployments sharing a server pick their own):

    p:ev:<delivery>     hash  payload, order_key, state (pending|done|failed), attempts, seq,
                              received_at, finished_at, error — kept after ``ack`` (without the
                              payload) until ``purge``, so a redelivery is known as a duplicate
    p:seq               counter: each submit's place in line (``seq``)
    p:fifo:<order_key>  list  the key's pending deliveries, oldest first; the first is the head
    p:ready             zset  order_key → seq of its head: claimable now, oldest first
    p:delayed           zset  order_key → time its failed head may be retried
    p:leased            zset  order_key → lease_until of its claimed head
    p:holder:<order_key> hash holder, token of the current claim (fencing), taken: how many events
                              after the head the claim took too (``take_next``); they are the next
                              ones of the fifo, finished after the head, in order
    p:tokens            counter: claim tokens, so each claim's token is new
    p:pending           zset  delivery → received_at (counts and the oldest, for ``stats``)
    p:done / p:failed   zset  delivery → finished_at (for ``purge`` / parked failures)

A key with pending events is in exactly one of ready, delayed and leased.  ``claim`` first moves
expired leases and due retries back to ready (O(those)), then pops the ``limit`` oldest heads, so it
costs O(limit + expired + due), never O(pending).

State: one Redis string per entry, ``p:kv:<len(ns)>:<ns>:<key>`` (the length keeps ``ns``/``key`` pairs
with colons apart), with Redis' own expiry (PX); ``p:kvidx:<ns>`` is a zset key → expires_at (+inf
without a TTL) that ``items`` reads and ``purge`` trims (``p:kvspaces`` names the namespaces with
TTLs).  Histories are lists (LPUSH + LTRIM); leases are hashes ``p:lease:<name>`` that are never
deleted, so their fencing token keeps growing.

Any Redis error — down, timed out, out of memory, read-only replica — raises ``StoreUnavailable``
naming the server without its password.  A command cut off by a dropped connection is retried
(twice); if the first try had run, ``submit`` then answers "duplicate" (the event is stored) and a
``claim`` leaves its events leased until the lease runs out — late, never lost.
"""

from __future__ import annotations

import asyncio
from types import TracebackType
from typing import Any

import orjson
import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.commands.core import AsyncScript
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError, RedisError

from bot.store.base import Claimed, FailedEvent, QueueStats, StoreUnavailable
from bot.urls import redact_url, url_secrets

MAX_CONNECTIONS = 32  # per process: intake bursts wait for a connection rather than open hundreds
WAIT_FOR_CONNECTION = 5.0  # then StoreUnavailable (intake answers 503, the forge redelivers)
SOCKET_TIMEOUT = 5.0
PURGE_BATCH = 1000  # deliveries forgotten per script run, so one run never blocks Redis for long
RECLAIM_BATCH = 1000  # expired leases / due retries moved back to ready per claim

# ---- Lua --------------------------------------------------------------------------------------

# Redis 7 script flags.  A full Redis (maxmemory) refuses new events and state, but the scripts that
# move or drop what it holds may still run, so the consumers can drain it.
_DRAINS = "#!lua flags=allow-oom\n"
_READS = "#!lua flags=no-writes\n"

_QUEUE_PRELUDE = """
local p = ARGV[1]
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local function num(x) return string.format('%.6f', x) end
local function ev(d) return p .. ':ev:' .. d end
local function fifo(k) return p .. ':fifo:' .. k end
local function holder(k) return p .. ':holder:' .. k end
local READY, DELAYED, LEASED = p .. ':ready', p .. ':delayed', p .. ':leased'
local PENDING, DONE, FAILED = p .. ':pending', p .. ':done', p .. ':failed'

-- the key's head (first of its fifo) may be claimed now; ready is ordered by the head's seq
local function make_ready(k)
  local head = redis.call('LINDEX', fifo(k), 0)
  redis.call('ZADD', READY, redis.call('HGET', ev(head), 'seq'), k)
end

-- the key's head is finished: unclaim it; the next event of the key (if any) is ready at once
local function advance(k)
  redis.call('LPOP', fifo(k))
  redis.call('DEL', holder(k))
  redis.call('ZREM', LEASED, k)
  if redis.call('LLEN', fifo(k)) > 0 then make_ready(k) end
end

-- the held head is finished: the next taken event becomes the head, still held (same token and
-- lease, the key stays leased); with none taken, the key moves on
local function finish_head(k)
  if tonumber(redis.call('HGET', holder(k), 'taken') or '0') > 0 then
    redis.call('LPOP', fifo(k))
    redis.call('HINCRBY', holder(k), 'taken', -1)
  else
    advance(k)
  end
end

local function enqueue(d, k, payload)
  local seq = redis.call('INCR', p .. ':seq')
  redis.call('DEL', ev(d))
  redis.call('HSET', ev(d), 'payload', payload, 'order_key', k, 'state', 'pending', 'attempts', 0,
             'seq', seq, 'received_at', num(now))
  redis.call('ZADD', PENDING, num(now), d)
  if redis.call('RPUSH', fifo(k), d) == 1 then redis.call('ZADD', READY, seq, k) end
end

-- the delivery claimed with this token (the head of k), or nil when the claim was lost
local function held(k, token)
  if redis.call('HGET', holder(k), 'token') ~= token then return nil end
  return redis.call('LINDEX', fifo(k), 0)
end

-- d when it is the head of k held with this token, else nil (claim lost, or out of order: a taken
-- event is finished only after its head)
local function held_head(k, token, d)
  if held(k, token) ~= d then return nil end
  return d
end
"""

# ARGV: prefix, delivery, order_key, payload
_SUBMIT = _QUEUE_PRELUDE + """
local d, k = ARGV[2], ARGV[3]
local state = redis.call('HGET', ev(d), 'state')
if state and state ~= 'failed' then return 0 end
if state then redis.call('ZREM', FAILED, d) end  -- a redelivered parked failure: again, at the back
enqueue(d, k, ARGV[4])
return 1
"""

# ARGV: prefix, consumer, limit, lease seconds → flat list of (delivery, key, payload, attempts, token)
_CLAIM = _DRAINS + _QUEUE_PRELUDE + """
local consumer, limit, lease = ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
-- leases that ran out: taken over by whoever claims next
for _, k in ipairs(redis.call('ZRANGEBYSCORE', LEASED, '-inf', '(' .. num(now), 'LIMIT', 0, %(batch)d)) do
  redis.call('ZREM', LEASED, k)
  redis.call('DEL', holder(k))
  make_ready(k)
end
for _, k in ipairs(redis.call('ZRANGEBYSCORE', DELAYED, '-inf', num(now), 'LIMIT', 0, %(batch)d)) do
  redis.call('ZREM', DELAYED, k)
  make_ready(k)
end
local out = {}
if limit < 1 then return out end
local popped = redis.call('ZPOPMIN', READY, limit)
for i = 1, #popped, 2 do
  local k = popped[i]
  local d = redis.call('LINDEX', fifo(k), 0)
  local token = tostring(redis.call('INCR', p .. ':tokens'))
  redis.call('HSET', holder(k), 'holder', consumer, 'token', token, 'taken', 0)
  redis.call('ZADD', LEASED, num(now + lease), k)
  local attempts = redis.call('HINCRBY', ev(d), 'attempts', 1)
  local payload = redis.call('HGET', ev(d), 'payload')
  table.insert(out, d); table.insert(out, k); table.insert(out, payload)
  table.insert(out, attempts); table.insert(out, token)
end
return out
""" % {"batch": RECLAIM_BATCH}

# ARGV: prefix, order_key, token, lease seconds
_EXTEND = _DRAINS + _QUEUE_PRELUDE + """
if not held(ARGV[2], ARGV[3]) then return 0 end
redis.call('ZADD', LEASED, 'XX', num(now + tonumber(ARGV[4])), ARGV[2])
return 1
"""

# ARGV: prefix, order_key, token → nil, or (delivery, payload, attempts) of the event after the last
# one taken under the claim, now taken too.  A lease that ran out takes nothing (claim sees it lost).
_TAKE_NEXT = _DRAINS + _QUEUE_PRELUDE + """
local k = ARGV[2]
if not held(k, ARGV[3]) then return nil end
local until_ = redis.call('ZSCORE', LEASED, k)
if not until_ or tonumber(until_) < now then return nil end
local taken = tonumber(redis.call('HGET', holder(k), 'taken') or '0')
local d = redis.call('LINDEX', fifo(k), taken + 1)
if not d then return nil end
redis.call('HINCRBY', holder(k), 'taken', 1)
local attempts = redis.call('HINCRBY', ev(d), 'attempts', 1)
return {d, redis.call('HGET', ev(d), 'payload'), attempts}
"""

# ARGV: prefix, order_key, token, delivery
_ACK = _DRAINS + _QUEUE_PRELUDE + """
local k = ARGV[2]
local d = held_head(k, ARGV[3], ARGV[4])
if not d then return 0 end
redis.call('HSET', ev(d), 'state', 'done', 'finished_at', num(now))
redis.call('HDEL', ev(d), 'payload', 'error')
redis.call('ZREM', PENDING, d)
redis.call('ZADD', DONE, num(now), d)
finish_head(k)
return 1
"""

# ARGV: prefix, order_key, token, delivery, error, retry_in seconds ('' = park as failed)
_FAIL = _DRAINS + _QUEUE_PRELUDE + """
local k = ARGV[2]
local d = held_head(k, ARGV[3], ARGV[4])
if not d then return 0 end
if ARGV[6] == '' then
  redis.call('HSET', ev(d), 'state', 'failed', 'error', ARGV[5], 'finished_at', num(now))
  redis.call('ZREM', PENDING, d)
  redis.call('ZADD', FAILED, num(now), d)
  finish_head(k)
else
  -- the head stays first of its key, so nothing behind it overtakes it; the claim ends (its
  -- holder hash goes, with ``taken``), so the events it took come again after the head
  redis.call('HSET', ev(d), 'error', ARGV[5])
  redis.call('DEL', holder(k))
  redis.call('ZREM', LEASED, k)
  redis.call('ZADD', DELAYED, num(now + tonumber(ARGV[6])), k)
end
return 1
"""

# ARGV: prefix, how many recent failures → pending, running, oldest received_at, failed, then
# (delivery, order_key, attempts, error, failed_at) per recent failure, newest first
_STATS = _READS + _QUEUE_PRELUDE + """
local n = tonumber(ARGV[2])
local oldest = redis.call('ZRANGE', PENDING, 0, 0, 'WITHSCORES')
local out = {redis.call('ZCARD', PENDING), redis.call('ZCOUNT', LEASED, num(now), '+inf'), oldest[2] or '',
             redis.call('ZCARD', FAILED)}
if n > 0 then
  local recent = redis.call('ZREVRANGE', FAILED, 0, n - 1, 'WITHSCORES')
  for i = 1, #recent, 2 do
    local d = recent[i]
    local f = redis.call('HMGET', ev(d), 'order_key', 'attempts', 'error')
    table.insert(out, d); table.insert(out, f[1] or ''); table.insert(out, f[2] or '0')
    table.insert(out, f[3] or ''); table.insert(out, recent[i + 1])
  end
end
return out
"""

# ARGV: prefix, delivery ('' = every parked failure, in the order they were first received)
_RETRY_FAILED = _QUEUE_PRELUDE + """
local targets = {}
if ARGV[2] ~= '' then
  if redis.call('HGET', ev(ARGV[2]), 'state') == 'failed' then targets = {ARGV[2]} end
else
  targets = redis.call('ZRANGE', FAILED, 0, -1)
  local seq = {}
  for _, d in ipairs(targets) do seq[d] = tonumber(redis.call('HGET', ev(d), 'seq')) end
  table.sort(targets, function(a, b) return seq[a] < seq[b] end)
end
for _, d in ipairs(targets) do
  local f = redis.call('HMGET', ev(d), 'order_key', 'payload')
  redis.call('ZREM', FAILED, d)
  enqueue(d, f[1], f[2])
end
return #targets
"""

# ARGV: prefix, handled_before (epoch seconds)
_PURGE = _DRAINS + _QUEUE_PRELUDE + """
local old = redis.call('ZRANGEBYSCORE', DONE, '-inf', '(' .. ARGV[2], 'LIMIT', 0, %(batch)d)
for _, d in ipairs(old) do
  redis.call('DEL', ev(d))
  redis.call('ZREM', DONE, d)
end
return #old
""" % {"batch": PURGE_BATCH}

# ARGV: prefix, consumer ('' = everyone)
_RELEASE_ALL = _DRAINS + _QUEUE_PRELUDE + """
local n = 0
for _, k in ipairs(redis.call('ZRANGE', LEASED, 0, -1)) do
  if ARGV[2] == '' or redis.call('HGET', holder(k), 'holder') == ARGV[2] then
    redis.call('ZREM', LEASED, k)
    redis.call('DEL', holder(k))
    make_ready(k)
    n = n + 1
  end
end
return n
"""

_STATE_PRELUDE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local function num(x) return string.format('%.6f', x) end
"""

# KEYS: entry, namespace index, namespaces with TTLs; ARGV: key, value, ttl ms ('' = none), ns, only if absent
_PUT = _STATE_PRELUDE + """
local args = {'SET', KEYS[1], ARGV[2]}
if ARGV[3] ~= '' then table.insert(args, 'PX'); table.insert(args, ARGV[3]) end
if ARGV[5] == '1' then table.insert(args, 'NX') end
if not redis.call(unpack(args)) then return 0 end
if ARGV[3] == '' then
  redis.call('ZADD', KEYS[2], '+inf', ARGV[1])
else
  redis.call('ZADD', KEYS[2], num(now + tonumber(ARGV[3]) / 1000), ARGV[1])
  redis.call('SADD', KEYS[3], ARGV[4])
end
return 1
"""

# KEYS: entry, namespace index; ARGV: key
_DELETE = """
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[1])
return 1
"""

# KEYS: namespace index; ARGV: prefix of the namespace's entries → flat key, value list
_ITEMS = _READS + _STATE_PRELUDE + """
local out = {}
for _, k in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. num(now), '+inf')) do
  local v = redis.call('GET', ARGV[1] .. k)
  if v then table.insert(out, k); table.insert(out, v) end
end
return out
"""

# KEYS: namespaces with TTLs; ARGV: prefix
_STATE_PURGE = _DRAINS + _STATE_PRELUDE + """
local n = 0
for _, ns in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local idx = ARGV[1] .. ':kvidx:' .. ns
  n = n + redis.call('ZREMRANGEBYSCORE', idx, '-inf', num(now))
  if #redis.call('ZRANGEBYSCORE', idx, '-inf', '(+inf', 'LIMIT', 0, 1) == 0 then redis.call('SREM', KEYS[1], ns) end
end
return n
"""

# KEYS: history; ARGV: value, keep
_APPEND = """
redis.call('LPUSH', KEYS[1], ARGV[1])
local keep = tonumber(ARGV[2])
if keep < 1 then redis.call('DEL', KEYS[1]) else redis.call('LTRIM', KEYS[1], 0, keep - 1) end
return 1
"""

# KEYS: lease; ARGV: holder, ttl seconds → fencing token, or nil when someone else holds it
_ACQUIRE = _STATE_PRELUDE + """
local cur = redis.call('HMGET', KEYS[1], 'holder', 'token', 'until')
local until_ = num(now + tonumber(ARGV[2]))
if not cur[1] then
  redis.call('HSET', KEYS[1], 'holder', ARGV[1], 'token', 1, 'until', until_)
  return 1
end
if cur[1] == ARGV[1] then
  redis.call('HSET', KEYS[1], 'until', until_)
  return tonumber(cur[2])
end
if tonumber(cur[3]) > now then return nil end
redis.call('HSET', KEYS[1], 'holder', ARGV[1], 'until', until_)
return redis.call('HINCRBY', KEYS[1], 'token', 1)
"""

# KEYS: lease; ARGV: holder.  Expire rather than delete, so the token keeps growing across holders.
_RELEASE = _DRAINS + """
if redis.call('HGET', KEYS[1], 'holder') == ARGV[1] then redis.call('HSET', KEYS[1], 'until', 0) end
return 1
"""


# ---- errors --------------------------------------------------------------------------------------

class _Unavailable:
    """``with`` block that turns any Redis failure into StoreUnavailable, without the password."""

    def __init__(self, url: str) -> None:
        self.where = redact_url(url)
        self._secrets = url_secrets(url)

    def error(self, err: BaseException) -> StoreUnavailable:
        text = str(err)
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return StoreUnavailable(f"Redis at {self.where}: {type(err).__name__}: {text}")

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, err: BaseException | None, tb: TracebackType | None) -> None:
        if isinstance(err, (RedisError, OSError)):
            raise self.error(err) from None


def _seconds(value: float) -> str:
    return f"{value:.6f}"


# ---- one round trip for a burst -------------------------------------------------------------------

class _Coalesced:
    """Calls of one script made in the same turn of the event loop go to Redis as one pipeline: one
    write and one round trip for a burst of deliveries (or of acknowledgements), not one each.  Each
    call still gets its own result; a script Redis lost (a restart) is loaded again and that call
    re-run on its own."""

    def __init__(self, client: aioredis.Redis, script: AsyncScript) -> None:
        self._client = client
        self._script = script
        self._pending: list[tuple[list[Any], asyncio.Future[Any]]] = []
        self._sending: set[asyncio.Task[None]] = set()

    async def __call__(self, args: list[Any]) -> Any:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        self._pending.append((args, future))
        if len(self._pending) == 1:
            loop.call_soon(self._flush)
        return await future

    def _flush(self) -> None:
        batch, self._pending = self._pending, []
        task = asyncio.get_running_loop().create_task(self._send(batch))
        self._sending.add(task)
        task.add_done_callback(self._sending.discard)

    async def _send(self, batch: list[tuple[list[Any], asyncio.Future[Any]]]) -> None:
        try:
            async with self._client.pipeline(transaction=False) as pipe:
                for args, _ in batch:
                    pipe.evalsha(self._script.sha, 0, *args)
                results = await pipe.execute(raise_on_error=False)
        except Exception as err:  # the connection failed: so did every call in the batch
            for _, future in batch:
                if not future.done():
                    future.set_exception(err)
            return
        for (args, future), result in zip(batch, results):
            if isinstance(result, NoScriptError):
                try:
                    result = await self._script(args=args)
                except Exception as err:
                    result = err
            if future.done():  # its caller was cancelled
                continue
            if isinstance(result, Exception):
                future.set_exception(result)
            else:
                future.set_result(result)


# ---- the queue -----------------------------------------------------------------------------------

class RedisEventQueue:
    def __init__(self, client: aioredis.Redis, prefix: str, unavailable: _Unavailable) -> None:
        self._r = client
        self._p = prefix
        self._unavailable = unavailable
        self._submit = _Coalesced(client, client.register_script(_SUBMIT))
        self._claim = client.register_script(_CLAIM)
        self._extend = client.register_script(_EXTEND)
        self._take_next = client.register_script(_TAKE_NEXT)
        self._ack = _Coalesced(client, client.register_script(_ACK))
        self._fail = client.register_script(_FAIL)
        self._stats = client.register_script(_STATS)
        self._retry_failed = client.register_script(_RETRY_FAILED)
        self._purge = client.register_script(_PURGE)
        self._release_all = client.register_script(_RELEASE_ALL)

    async def submit(self, delivery: str, order_key: str, payload: bytes) -> bool:
        with self._unavailable:
            return await self._submit([self._p, delivery, order_key, payload]) == 1

    async def claim(self, consumer: str, limit: int, lease: float) -> list[Claimed]:
        with self._unavailable:
            flat = await self._claim(args=[self._p, consumer, limit, _seconds(lease)])
        return [Claimed(flat[i].decode(), flat[i + 1].decode(), flat[i + 2], int(flat[i + 3]), flat[i + 4].decode())
                for i in range(0, len(flat), 5)]

    async def extend(self, claimed: Claimed, lease: float) -> bool:
        with self._unavailable:
            return await self._extend(args=[self._p, claimed.order_key, claimed.token, _seconds(lease)]) == 1

    async def take_next(self, claimed: Claimed) -> Claimed | None:
        with self._unavailable:
            taken = await self._take_next(args=[self._p, claimed.order_key, claimed.token])
        if not taken:
            return None
        delivery, payload, attempts = taken
        return Claimed(delivery.decode(), claimed.order_key, payload, int(attempts), claimed.token)

    async def ack(self, claimed: Claimed) -> bool:
        with self._unavailable:
            return await self._ack([self._p, claimed.order_key, claimed.token, claimed.delivery]) == 1

    async def fail(self, claimed: Claimed, error: str, retry_in: float | None) -> bool:
        retry = "" if retry_in is None else _seconds(retry_in)
        with self._unavailable:
            return await self._fail(args=[self._p, claimed.order_key, claimed.token, claimed.delivery, error,
                                          retry]) == 1

    async def seen(self, delivery: str) -> bool:
        with self._unavailable:
            state = await self._r.hget(f"{self._p}:ev:{delivery}", "state")
        return state is not None and state != b"failed"

    async def stats(self, recent_failures: int = 20) -> QueueStats:
        with self._unavailable:
            out = await self._stats(args=[self._p, recent_failures])
        pending, running, oldest, failed = int(out[0]), int(out[1]), out[2], int(out[3])
        recent = tuple(FailedEvent(out[i].decode(), out[i + 1].decode(), int(out[i + 2]), out[i + 3].decode(),
                                   float(out[i + 4])) for i in range(4, len(out), 5))
        return QueueStats(pending, running, float(oldest) if oldest else None, failed, recent)

    async def retry_failed(self, delivery: str | None = None) -> int:
        with self._unavailable:
            return int(await self._retry_failed(args=[self._p, delivery or ""]))

    async def purge(self, handled_before: float) -> int:
        total = 0
        with self._unavailable:
            while True:
                n = int(await self._purge(args=[self._p, _seconds(handled_before)]))
                total += n
                if n < PURGE_BATCH:
                    return total

    async def release_all(self, consumer: str | None = None) -> int:
        with self._unavailable:
            return int(await self._release_all(args=[self._p, consumer or ""]))

    async def close(self) -> None:
        pass  # the connection pool is closed by RedisStores.close


# ---- state ---------------------------------------------------------------------------------------

class RedisStateStore:
    def __init__(self, client: aioredis.Redis, prefix: str, unavailable: _Unavailable) -> None:
        self._r = client
        self._p = prefix
        self._unavailable = unavailable
        self._put = client.register_script(_PUT)
        self._delete = client.register_script(_DELETE)
        self._items = client.register_script(_ITEMS)
        self._purge = client.register_script(_STATE_PURGE)
        self._append = client.register_script(_APPEND)
        self._acquire = client.register_script(_ACQUIRE)
        self._release = client.register_script(_RELEASE)

    def _entries(self, ns: str) -> str:
        """The prefix of a namespace's entry keys; ns's length keeps "a:b"+"c" apart from "a"+"b:c"."""
        return f"{self._p}:kv:{len(ns)}:{ns}:"

    def _index(self, ns: str) -> str:
        return f"{self._p}:kvidx:{ns}"

    async def get(self, ns: str, key: str) -> Any | None:
        with self._unavailable:
            data = await self._r.get(self._entries(ns) + key)
        return None if data is None else orjson.loads(data)

    async def _set(self, ns: str, key: str, value: Any, ttl: float | None, only_if_absent: bool) -> bool:
        data = orjson.dumps(value)
        # PX needs a whole, positive number of milliseconds; a TTL under 1 ms is as good as 1 ms
        ms = "" if ttl is None else str(max(1, round(ttl * 1000)))
        keys = [self._entries(ns) + key, self._index(ns), f"{self._p}:kvspaces"]
        with self._unavailable:
            return await self._put(keys=keys, args=[key, data, ms, ns, "1" if only_if_absent else "0"]) == 1

    async def put(self, ns: str, key: str, value: Any, ttl: float | None = None) -> None:
        await self._set(ns, key, value, ttl, only_if_absent=False)

    async def put_if_absent(self, ns: str, key: str, value: Any, ttl: float | None = None) -> bool:
        return await self._set(ns, key, value, ttl, only_if_absent=True)

    async def delete(self, ns: str, key: str) -> None:
        with self._unavailable:
            await self._delete(keys=[self._entries(ns) + key, self._index(ns)], args=[key])

    async def items(self, ns: str) -> dict[str, Any]:
        with self._unavailable:
            flat = await self._items(keys=[self._index(ns)], args=[self._entries(ns)])
        return {flat[i].decode(): orjson.loads(flat[i + 1]) for i in range(0, len(flat), 2)}

    async def append(self, ns: str, value: Any, keep: int) -> None:
        with self._unavailable:
            await self._append(keys=[f"{self._p}:hist:{ns}"], args=[orjson.dumps(value), keep])

    async def recent(self, ns: str, limit: int) -> list[Any]:
        if limit < 1:
            return []
        with self._unavailable:
            rows = await self._r.lrange(f"{self._p}:hist:{ns}", 0, limit - 1)
        return [orjson.loads(row) for row in rows]

    async def acquire(self, name: str, holder: str, ttl: float) -> int | None:
        with self._unavailable:
            token = await self._acquire(keys=[f"{self._p}:lease:{name}"], args=[holder, _seconds(ttl)])
        return None if token is None else int(token)

    async def release(self, name: str, holder: str) -> None:
        with self._unavailable:
            await self._release(keys=[f"{self._p}:lease:{name}"], args=[holder])

    async def purge(self) -> int:
        with self._unavailable:
            return int(await self._purge(keys=[f"{self._p}:kvspaces"], args=[self._p]))

    async def close(self) -> None:
        pass


class RedisStores:
    """Both stores on one connection pool.  Connecting is lazy: a Redis that is down shows up as
    StoreUnavailable from the first operation, not from here (only a malformed URL fails here)."""

    def __init__(self, url: str, *, prefix: str = "prowlet", max_connections: int = MAX_CONNECTIONS) -> None:
        self._unavailable = _Unavailable(url)
        # A dropped connection (Redis restarted, an idle socket cut) is retried quickly, twice.
        retry = Retry(ExponentialBackoff(cap=0.5, base=0.05), 2, supported_errors=(RedisConnectionError,))
        try:
            pool = aioredis.BlockingConnectionPool.from_url(
                url, max_connections=max_connections, timeout=WAIT_FOR_CONNECTION, socket_timeout=SOCKET_TIMEOUT,
                socket_connect_timeout=SOCKET_TIMEOUT, retry=retry, health_check_interval=30)
        except (ValueError, RedisError) as err:
            raise self._unavailable.error(err) from None
        self._client = aioredis.Redis.from_pool(pool)
        self.events = RedisEventQueue(self._client, prefix, self._unavailable)
        self.state = RedisStateStore(self._client, prefix, self._unavailable)
        from bot.store.redis_jobs import RedisJobStores  # late: it builds on this module

        self.jobs = RedisJobStores(self._client, prefix, self._unavailable)
        self._prefix = prefix

    def queue(self, name: str) -> RedisEventQueue:
        """Another event queue (an outbox) under its own key prefix: ``<prefix>:<name>:…``."""
        return RedisEventQueue(self._client, f"{self._prefix}:{name}", self._unavailable)

    @property
    def where(self) -> str:
        """The server, for logs: the URL without its password."""
        return self._unavailable.where

    async def close(self) -> None:
        await self._client.aclose()  # from_pool: closing the client closes (disconnects) the pool


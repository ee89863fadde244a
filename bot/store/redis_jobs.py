"""Job records, job logs and the job queues on Redis: what ``prowlet serve`` replicas and ``prowlet
worker`` processes share (``PROWLET_REDIS_URL``).  Same contract as the embedded SQLite records and
log files (tests/test_job_store_contract.py).

Keys, under the prefix ``p``:

    p:job:<id>              hash  the record's fields (finished_at '' while unfinished)
    p:jobs:seq              counter: creation order, so "newest" means the same on every host
    p:jobs:sha:<forge>|<repo lowercased>|<sha>   hash  job name → id of its newest record there
    p:jobs:unfinished       zset  id → seq
    p:jobs:recent           zset  id → seq, the newest RECENT_KEPT only (the job list)
    p:joblog:<id>           list  the log in chunks, oldest first; only the end is kept
    p:joblogsize:<id>       hash  size (written in all), kept (bytes in the list)
    p:jobq:…                the job queue: a ``RedisEventQueue`` of its own (one key per job)
    p:jobout:…              the outcome outbox: a ``RedisEventQueue`` ordered per status context

A log is capped (``keep``, the last N bytes: whole chunks are dropped from its start) and expires
``ttl`` seconds after its last write.  Records stay, as in SQLite.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import redis.asyncio as aioredis

from bot.ci.store import FINAL_STATES, JobRecord, JobRecords, LogTail, new_id, valid_id
from bot.logs import log
from bot.store.base import EventQueue, StoreUnavailable
from bot.store.redis import RedisEventQueue, _Unavailable

RECENT_KEPT = 1000
FLUSH_SECONDS = 0.25  # a log reaches Redis this soon after the job printed it
FLUSH_BYTES = 256 * 1024  # ...or as soon as this much is waiting
_FIELDS = ("id", "job", "forge", "repo", "number", "sha", "state", "started_at", "finished_at", "exit_code",
           "description")

# KEYS: record, sha index, unfinished, recent, seq; ARGV: the fields in _FIELDS order (finished_at,
# exit_code ''), recent kept → the record's fields (the existing one's when the id is taken)
_CREATE = """
if redis.call('EXISTS', KEYS[1]) == 1 then return redis.call('HGETALL', KEYS[1]) end
local seq = redis.call('INCR', KEYS[5])
redis.call('HSET', KEYS[1], 'id', ARGV[1], 'job', ARGV[2], 'forge', ARGV[3], 'repo', ARGV[4], 'number', ARGV[5],
           'sha', ARGV[6], 'state', ARGV[7], 'started_at', ARGV[8], 'finished_at', '', 'exit_code', '',
           'description', ARGV[11], 'seq', seq)
redis.call('HSET', KEYS[2], ARGV[2], ARGV[1])
redis.call('ZADD', KEYS[3], seq, ARGV[1])
redis.call('ZADD', KEYS[4], seq, ARGV[1])
redis.call('ZREMRANGEBYRANK', KEYS[4], 0, -tonumber(ARGV[12]) - 1)
return redis.call('HGETALL', KEYS[1])
"""

# KEYS: record, unfinished; ARGV: state, description, exit_code ('' = none), finished_at
_FINISH = """
local done = redis.call('HGET', KEYS[1], 'finished_at')
if done == false or done ~= '' then return nil end
redis.call('HSET', KEYS[1], 'state', ARGV[1], 'description', ARGV[2], 'exit_code', ARGV[3], 'finished_at', ARGV[4])
redis.call('ZREM', KEYS[2], redis.call('HGET', KEYS[1], 'id'))
return redis.call('HGETALL', KEYS[1])
"""

# KEYS: record; ARGV: started_at
_RUNNING = """
local done = redis.call('HGET', KEYS[1], 'finished_at')
if done == false or done ~= '' then return nil end
redis.call('HSET', KEYS[1], 'state', 'running', 'started_at', ARGV[1])
return redis.call('HGETALL', KEYS[1])
"""

# KEYS: chunks, sizes; ARGV: keep, ttl ms, chunk...
_APPEND = """
local kept = 0
for i = 3, #ARGV do
  redis.call('RPUSH', KEYS[1], ARGV[i])
  redis.call('HINCRBY', KEYS[2], 'size', #ARGV[i])
  kept = redis.call('HINCRBY', KEYS[2], 'kept', #ARGV[i])
end
local keep = tonumber(ARGV[1])
while kept > keep and redis.call('LLEN', KEYS[1]) > 1 do
  kept = redis.call('HINCRBY', KEYS[2], 'kept', -#redis.call('LPOP', KEYS[1]))
end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
redis.call('PEXPIRE', KEYS[2], ARGV[2])
return kept
"""


def _record(flat: list[bytes] | None) -> JobRecord | None:
    if not flat:
        return None
    f = {flat[i].decode(): flat[i + 1].decode() for i in range(0, len(flat), 2)}
    return JobRecord(
        id=f["id"], job=f["job"], forge=f["forge"], repo=f["repo"], number=int(f["number"]), sha=f["sha"],
        state=f["state"], started_at=float(f["started_at"]),
        finished_at=float(f["finished_at"]) if f["finished_at"] else None,
        exit_code=int(f["exit_code"]) if f["exit_code"] else None, description=f["description"])


class RedisJobRecords:
    def __init__(self, client: aioredis.Redis, prefix: str, unavailable: _Unavailable) -> None:
        self._r = client
        self._p = prefix
        self._unavailable = unavailable
        self._create = client.register_script(_CREATE)
        self._finish = client.register_script(_FINISH)
        self._running = client.register_script(_RUNNING)

    def _key(self, job_id: str) -> str:
        return f"{self._p}:job:{job_id}"

    def _sha_index(self, forge: str, repo: str, sha: str) -> str:
        return f"{self._p}:jobs:sha:{forge}|{repo.lower()}|{sha}"

    async def create(self, *, job: str, forge: str, repo: str, number: int, sha: str,
                     description: str = "Job triggered.", job_id: str | None = None) -> JobRecord:
        job_id = job_id or new_id()
        if not valid_id(job_id):
            raise ValueError("not a job id")
        keys = [self._key(job_id), self._sha_index(forge, repo, sha), f"{self._p}:jobs:unfinished",
                f"{self._p}:jobs:recent", f"{self._p}:jobs:seq"]
        args = [job_id, job, forge, repo, number, sha, "pending", repr(time.time()), "", "", description, RECENT_KEPT]
        with self._unavailable:
            record = _record(await self._create(keys=keys, args=args))
        assert record is not None
        return record

    async def running(self, job_id: str) -> JobRecord | None:
        with self._unavailable:
            return _record(await self._running(keys=[self._key(job_id)], args=[repr(time.time())]))

    async def finish(self, job_id: str, state: str, description: str,
                     exit_code: int | None = None) -> JobRecord | None:
        if state not in FINAL_STATES:
            raise ValueError(f"{state!r} is not a final state")
        args = [state, description, "" if exit_code is None else str(exit_code), repr(time.time())]
        with self._unavailable:
            return _record(await self._finish(keys=[self._key(job_id), f"{self._p}:jobs:unfinished"], args=args))

    async def get(self, job_id: str) -> JobRecord | None:
        if not valid_id(job_id):
            return None
        with self._unavailable:
            flat = await self._r.hgetall(self._key(job_id))
        return _record([x for kv in flat.items() for x in kv])

    async def _many(self, ids: list[str]) -> list[JobRecord]:
        if not ids:
            return []
        with self._unavailable:
            async with self._r.pipeline(transaction=False) as pipe:
                for job_id in ids:
                    pipe.hgetall(self._key(job_id))
                rows = await pipe.execute()
        records = [_record([x for kv in row.items() for x in kv]) for row in rows]
        return [r for r in records if r is not None]

    async def latest(self, forge: str, repo: str, sha: str) -> dict[str, JobRecord]:
        with self._unavailable:
            index = await self._r.hgetall(self._sha_index(forge, repo, sha))
        return {r.job: r for r in await self._many([v.decode() for v in index.values()])}

    async def unfinished(self) -> list[JobRecord]:
        with self._unavailable:
            ids = await self._r.zrange(f"{self._p}:jobs:unfinished", 0, -1)
        return await self._many([i.decode() for i in ids])

    async def recent(self, limit: int = 100) -> list[JobRecord]:
        if limit < 1:
            return []
        with self._unavailable:
            ids = await self._r.zrevrange(f"{self._p}:jobs:recent", 0, limit - 1)
        return await self._many([i.decode() for i in ids])


class _BufferedWriter:
    """Collects output as it streams; the log's task ships it to Redis in chunks."""

    def __init__(self) -> None:
        self.chunks: list[bytes] = []
        self.size = 0
        self.ready = asyncio.Event()

    def write(self, data: bytes) -> None:
        if data:
            self.chunks.append(data)
            self.size += len(data)
            if self.size >= FLUSH_BYTES:
                self.ready.set()

    def take(self) -> bytes:
        data, self.chunks, self.size = b"".join(self.chunks), [], 0
        self.ready.clear()
        return data


class RedisJobLogs:
    def __init__(self, client: aioredis.Redis, prefix: str, unavailable: _Unavailable, keep: int, ttl: float) -> None:
        self._r = client
        self._p = prefix
        self._unavailable = unavailable
        self.keep: int | None = keep
        self._ttl_ms = str(max(1, round(ttl * 1000)))
        self._append = client.register_script(_APPEND)

    def _keys(self, job_id: str) -> list[str]:
        if not valid_id(job_id):
            raise ValueError("not a job id")
        return [f"{self._p}:joblog:{job_id}", f"{self._p}:joblogsize:{job_id}"]

    async def append(self, job_id: str, data: bytes) -> None:
        # Chunks of at most a quarter of what is kept, so dropping whole chunks from the start
        # keeps at least three quarters of ``keep``.
        size = max(1, min(FLUSH_BYTES, (self.keep or FLUSH_BYTES) // 4))
        chunks = [data[i:i + size] for i in range(0, len(data), size)]
        with self._unavailable:
            await self._append(keys=self._keys(job_id), args=[self.keep, self._ttl_ms, *chunks])

    @asynccontextmanager
    async def open(self, job_id: str) -> AsyncIterator[_BufferedWriter]:
        writer = _BufferedWriter()
        keys = self._keys(job_id)
        pending = b""

        async def ship() -> None:
            nonlocal pending
            pending += writer.take()
            if pending:
                try:
                    await self.append(job_id, pending)
                    pending = b""
                except StoreUnavailable as err:  # kept, and sent with the next chunk
                    log.warning("could not store a job's log; will try again", job_id=job_id, error=str(err))

        async def flush_forever() -> None:
            while True:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(writer.ready.wait(), FLUSH_SECONDS)
                await ship()

        task = asyncio.get_running_loop().create_task(flush_forever(), name=f"log {keys[0]}")
        try:
            yield writer
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            await ship()

    async def tail(self, job_id: str, limit: int | None = None) -> LogTail:
        chunks_key, sizes_key = self._keys(job_id)
        with self._unavailable:
            async with self._r.pipeline(transaction=True) as pipe:
                pipe.lrange(chunks_key, 0, -1)
                pipe.hmget(sizes_key, "size", "kept")
                chunks, (size, kept) = await pipe.execute()
        if size is None:
            return LogTail(b"", 0, 0, False)
        data = b"".join(chunks)
        if limit is not None:
            data = data[-limit:] if limit else b""
        return LogTail(data, int(size), int(size) - int(kept), True)

    def local_path(self, job_id: str) -> None:
        return None

    async def expire(self, records: JobRecords, cutoff: float) -> int:
        return 0  # Redis expires each log by itself, ``ttl`` after its last write


class RedisJobStores:
    """What shared jobs need (``bot.ci.store.SharedJobs``), on the stores' connection pool."""

    def __init__(self, client: aioredis.Redis, prefix: str, unavailable: _Unavailable) -> None:
        self._client, self._prefix, self._unavailable = client, prefix, unavailable
        self.records = RedisJobRecords(client, prefix, unavailable)
        self.queue: EventQueue = RedisEventQueue(client, f"{prefix}:jobq", unavailable)
        self.outbox: EventQueue = RedisEventQueue(client, f"{prefix}:jobout", unavailable)

    def logs(self, keep: int, ttl: float) -> RedisJobLogs:
        return RedisJobLogs(self._client, self._prefix, self._unavailable, keep, ttl)


__all__ = ["RedisJobLogs", "RedisJobRecords", "RedisJobStores"]

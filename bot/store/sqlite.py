"""The embedded stores: one SQLite file (WAL) under ``PROWLET_DATA_DIR``, for one process.

What queues up while a transaction commits goes into the next one (group commit), so a burst of
deliveries costs one fsync per batch, not one per delivery, while each ``submit`` still returns only
after its row is on disk (``synchronous=FULL``: a power cut loses nothing acknowledged).

Only one process may use a data directory (a file lock says so at once); replicas share Redis.
"""

from __future__ import annotations

import asyncio
import fcntl
import os
import sqlite3
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import orjson

from bot.store.base import Claimed, FailedEvent, QueueStats, StoreUnavailable

T = TypeVar("T")
MAX_BATCH = 512

_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    delivery TEXT NOT NULL UNIQUE,
    order_key TEXT NOT NULL,
    payload BLOB,
    state TEXT NOT NULL,                  -- pending | done | failed
    attempts INTEGER NOT NULL DEFAULT 0,
    received_at REAL NOT NULL,
    finished_at REAL,
    error TEXT
);
CREATE INDEX IF NOT EXISTS events_pending ON events (order_key, seq) WHERE state = 'pending';
CREATE INDEX IF NOT EXISTS events_finished ON events (state, finished_at) WHERE state != 'pending';
-- The oldest pending event of each key: the only one that may be claimed.  ``taken``: how many
-- events after it the claim's holder took too (take_next); they are finished after it, in order.
CREATE TABLE IF NOT EXISTS heads (
    order_key TEXT PRIMARY KEY,
    seq INTEGER NOT NULL,
    available_at REAL NOT NULL,
    holder TEXT,
    token TEXT,
    lease_until REAL,
    taken INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS heads_by_seq ON heads (seq);
CREATE TABLE IF NOT EXISTS kv (
    ns TEXT NOT NULL,
    key TEXT NOT NULL,
    value BLOB NOT NULL,
    expires_at REAL,
    PRIMARY KEY (ns, key)
);
CREATE TABLE IF NOT EXISTS history (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    ns TEXT NOT NULL,
    value BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS history_by_ns ON history (ns, seq);
CREATE TABLE IF NOT EXISTS leases (
    name TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    token INTEGER NOT NULL,
    until REAL NOT NULL
);
"""


class _Database:
    """One connection; ``run`` queues an operation and awaits its result once it is committed.

    Operations run on the event loop itself (each is a few indexed statements: microseconds), all
    that queued up since the last commit in one transaction; only the ``COMMIT`` — where SQLite
    fsyncs the WAL — runs on a thread, and what arrives meanwhile waits for the next batch (group
    commit).  Handing every operation to a thread cost more in GIL hand-overs than the statements
    themselves (bench/intake.py)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            # timeout: how long a statement waits for a short-lived tool's lock (prowlet queue)
            self._conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=2)
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=FULL")  # the WAL is fsynced at each commit
            self._conn.executescript(_SCHEMA)
            _migrate(self._conn)
        except sqlite3.Error as err:
            raise StoreUnavailable(f"cannot open {path}: {err}") from None
        self._pending: list[tuple[Callable[[sqlite3.Connection], Any], asyncio.Future[Any]]] = []
        self._committing = False
        self._commit_task: asyncio.Task[None] | None = None
        self._closed = False
        self._committer = ThreadPoolExecutor(1, thread_name_prefix="prowlet-sqlite")

    async def run(self, op: Callable[[sqlite3.Connection], T]) -> T:
        if self._closed:
            raise StoreUnavailable("the SQLite store is closed")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._pending.append((op, future))
        if len(self._pending) == 1 and not self._committing:
            loop.call_soon(self._next_batch)
        return await future

    def close(self) -> None:
        self._closed = True
        self._committer.shutdown(wait=True)
        self._conn.close()

    def _next_batch(self) -> None:
        if self._committing or not self._pending:
            return
        batch, self._pending = self._pending[:MAX_BATCH], self._pending[MAX_BATCH:]
        self._committing = True
        results = self._execute(batch)
        self._commit_task = asyncio.get_running_loop().create_task(self._commit(batch, results))

    def _execute(self, batch: list[Any]) -> list[tuple[asyncio.Future[Any], bool, Any]]:
        conn = self._conn
        results: list[tuple[asyncio.Future[Any], bool, Any]] = []
        try:
            conn.execute("BEGIN IMMEDIATE")
            for op, future in batch:
                conn.execute("SAVEPOINT op")
                try:
                    value = op(conn)
                except Exception as err:  # one bad operation must not undo the others in the batch
                    conn.execute("ROLLBACK TO op")
                    if isinstance(err, sqlite3.Error):
                        err = StoreUnavailable(f"SQLite: {err}")
                    results.append((future, False, err))
                else:
                    results.append((future, True, value))
                conn.execute("RELEASE op")
        except sqlite3.Error as err:
            if conn.in_transaction:
                conn.rollback()
            failure = StoreUnavailable(f"SQLite: {err}")
            results = [(future, False, failure) for _, future in batch]
        return results

    async def _commit(self, batch: list[Any], results: list[tuple[asyncio.Future[Any], bool, Any]]) -> None:
        try:
            if self._conn.in_transaction:
                await asyncio.get_running_loop().run_in_executor(self._committer, self._conn.execute, "COMMIT")
        except (sqlite3.Error, RuntimeError) as err:  # RuntimeError: the committer was shut down
            if self._conn.in_transaction:
                self._conn.rollback()
            failure = StoreUnavailable(f"SQLite: {err}")
            results = [(future, False, failure) for _, future in batch]
        finally:
            self._committing = False
        for future, ok, value in results:
            if future.done():  # the awaiting task was cancelled
                continue
            if ok:
                future.set_result(value)
            else:
                future.set_exception(value)
        self._next_batch()


def _migrate(conn: sqlite3.Connection) -> None:
    """Bring a database made by an older prowlet up to ``_SCHEMA`` (CREATE IF NOT EXISTS skips it)."""
    columns = {row[1] for row in conn.execute("PRAGMA table_info(heads)")}
    if "taken" not in columns:  # before runs (take_next)
        conn.execute("ALTER TABLE heads ADD COLUMN taken INTEGER NOT NULL DEFAULT 0")


class _DataDirLock:
    """One process per data directory: two would each believe they own every claim."""

    def __init__(self, path: Path) -> None:
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(self._fd)
            raise StoreUnavailable(
                f"another prowlet process is using {path.parent}; give each process its own "
                "PROWLET_DATA_DIR, or set PROWLET_REDIS_URL to run replicas") from None

    def release(self) -> None:
        os.close(self._fd)


def _advance(conn: sqlite3.Connection, order_key: str, after: int, now: float) -> None:
    """The key's head is finished: the next pending event (if any) becomes the head."""
    row = conn.execute("SELECT MIN(seq) FROM events WHERE state = 'pending' AND order_key = ? AND seq > ?",
                       (order_key, after)).fetchone()
    if row[0] is None:
        conn.execute("DELETE FROM heads WHERE order_key = ?", (order_key,))
    else:
        conn.execute("UPDATE heads SET seq = ?, available_at = ?, holder = NULL, token = NULL, lease_until = NULL, "
                     "taken = 0 WHERE order_key = ?", (row[0], now, order_key))


def _finish_head(conn: sqlite3.Connection, order_key: str, seq: int, taken: int, now: float) -> None:
    """The held head ``seq`` is finished: the next taken event becomes the head, still held by the
    same claim; with none taken, the key moves on (``_advance``)."""
    if not taken:
        _advance(conn, order_key, seq, now)
        return
    row = conn.execute("SELECT MIN(seq) FROM events WHERE state = 'pending' AND order_key = ? AND seq > ?",
                       (order_key, seq)).fetchone()
    conn.execute("UPDATE heads SET seq = ?, taken = taken - 1 WHERE order_key = ?", (row[0], order_key))


def _enqueue(conn: sqlite3.Connection, delivery: str, order_key: str, payload: bytes, now: float) -> None:
    seq = conn.execute(
        "INSERT INTO events (delivery, order_key, payload, state, received_at) VALUES (?, ?, ?, 'pending', ?)",
        (delivery, order_key, payload, now)).lastrowid
    conn.execute("INSERT OR IGNORE INTO heads (order_key, seq, available_at) VALUES (?, ?, ?)", (order_key, seq, now))


class SqliteEventQueue:
    def __init__(self, db: _Database) -> None:
        self._db = db

    async def submit(self, delivery: str, order_key: str, payload: bytes) -> bool:
        def op(conn: sqlite3.Connection) -> bool:
            row = conn.execute("SELECT state FROM events WHERE delivery = ?", (delivery,)).fetchone()
            if row is not None:
                if row[0] != "failed":
                    return False
                conn.execute("DELETE FROM events WHERE delivery = ?", (delivery,))  # again, at the back
            _enqueue(conn, delivery, order_key, payload, time.time())
            return True

        return await self._db.run(op)

    async def claim(self, consumer: str, limit: int, lease: float) -> list[Claimed]:
        def op(conn: sqlite3.Connection) -> list[Claimed]:
            now = time.time()
            heads = conn.execute(
                "SELECT order_key, seq FROM heads WHERE available_at <= ? AND (lease_until IS NULL OR lease_until < ?) "
                "ORDER BY seq LIMIT ?", (now, now, limit)).fetchall()
            claimed = []
            for order_key, seq in heads:
                token = uuid.uuid4().hex
                conn.execute("UPDATE heads SET holder = ?, token = ?, lease_until = ?, taken = 0 WHERE order_key = ?",
                             (consumer, token, now + lease, order_key))
                delivery, payload, attempts = conn.execute(
                    "UPDATE events SET attempts = attempts + 1 WHERE seq = ? RETURNING delivery, payload, attempts",
                    (seq,)).fetchone()
                claimed.append(Claimed(delivery, order_key, payload, attempts, token))
            return claimed

        return await self._db.run(op)

    @staticmethod
    def _held_head(conn: sqlite3.Connection, claimed: Claimed) -> tuple[int, int] | None:
        """The head's seq and how many were taken after it, when ``claimed`` is the head and still
        holds it; else None (claim lost, or a taken event finished before its head)."""
        return conn.execute("SELECT h.seq, h.taken FROM heads h JOIN events e ON e.seq = h.seq "
                            "WHERE h.order_key = ? AND h.token = ? AND e.delivery = ?",
                            (claimed.order_key, claimed.token, claimed.delivery)).fetchone()

    async def extend(self, claimed: Claimed, lease: float) -> bool:
        def op(conn: sqlite3.Connection) -> bool:
            cur = conn.execute("UPDATE heads SET lease_until = ? WHERE order_key = ? AND token = ?",
                               (time.time() + lease, claimed.order_key, claimed.token))
            return cur.rowcount == 1

        return await self._db.run(op)

    async def take_next(self, claimed: Claimed) -> Claimed | None:
        def op(conn: sqlite3.Connection) -> Claimed | None:
            head = conn.execute("SELECT seq, taken FROM heads WHERE order_key = ? AND token = ? AND lease_until >= ?",
                                (claimed.order_key, claimed.token, time.time())).fetchone()
            if head is None:
                return None
            row = conn.execute("SELECT seq FROM events WHERE state = 'pending' AND order_key = ? AND seq > ? "
                               "ORDER BY seq LIMIT 1 OFFSET ?", (claimed.order_key, *head)).fetchone()
            if row is None:
                return None
            conn.execute("UPDATE heads SET taken = taken + 1 WHERE order_key = ?", (claimed.order_key,))
            delivery, payload, attempts = conn.execute(
                "UPDATE events SET attempts = attempts + 1 WHERE seq = ? RETURNING delivery, payload, attempts",
                row).fetchone()
            return Claimed(delivery, claimed.order_key, payload, attempts, claimed.token)

        return await self._db.run(op)

    async def ack(self, claimed: Claimed) -> bool:
        def op(conn: sqlite3.Connection) -> bool:
            head = self._held_head(conn, claimed)
            if head is None:
                return False
            seq, taken = head
            now = time.time()
            conn.execute("UPDATE events SET state = 'done', payload = NULL, finished_at = ?, error = NULL WHERE seq = ?",
                         (now, seq))
            _finish_head(conn, claimed.order_key, seq, taken, now)
            return True

        return await self._db.run(op)

    async def fail(self, claimed: Claimed, error: str, retry_in: float | None) -> bool:
        def op(conn: sqlite3.Connection) -> bool:
            head = self._held_head(conn, claimed)
            if head is None:
                return False
            seq, taken = head
            now = time.time()
            if retry_in is not None:  # the claim ends; the taken events come again after the head
                conn.execute("UPDATE events SET error = ? WHERE seq = ?", (error, seq))
                conn.execute("UPDATE heads SET available_at = ?, holder = NULL, token = NULL, lease_until = NULL, "
                             "taken = 0 WHERE order_key = ?", (now + retry_in, claimed.order_key))
            else:
                conn.execute("UPDATE events SET state = 'failed', error = ?, finished_at = ? WHERE seq = ?",
                             (error, now, seq))
                _finish_head(conn, claimed.order_key, seq, taken, now)
            return True

        return await self._db.run(op)

    async def seen(self, delivery: str) -> bool:
        def op(conn: sqlite3.Connection) -> bool:
            row = conn.execute("SELECT state FROM events WHERE delivery = ?", (delivery,)).fetchone()
            return row is not None and row[0] != "failed"

        return await self._db.run(op)

    async def stats(self, recent_failures: int = 20) -> QueueStats:
        def op(conn: sqlite3.Connection) -> QueueStats:
            now = time.time()
            pending, oldest = conn.execute(
                "SELECT COUNT(*), MIN(received_at) FROM events WHERE state = 'pending'").fetchone()
            running = conn.execute("SELECT COUNT(*) FROM heads WHERE lease_until >= ?", (now,)).fetchone()[0]
            failed = conn.execute("SELECT COUNT(*) FROM events WHERE state = 'failed'").fetchone()[0]
            rows = conn.execute(
                "SELECT delivery, order_key, attempts, error, finished_at FROM events WHERE state = 'failed' "
                "ORDER BY finished_at DESC LIMIT ?", (recent_failures,)).fetchall()
            return QueueStats(pending, running, oldest, failed,
                              tuple(FailedEvent(d, k, a, e or "", f) for d, k, a, e, f in rows))

        return await self._db.run(op)

    async def retry_failed(self, delivery: str | None = None) -> int:
        def op(conn: sqlite3.Connection) -> int:
            where, args = ("AND delivery = ?", (delivery,)) if delivery else ("", ())
            rows = conn.execute(f"SELECT delivery, order_key, payload FROM events WHERE state = 'failed' {where} "
                                "ORDER BY seq", args).fetchall()
            now = time.time()
            for d, key, payload in rows:
                conn.execute("DELETE FROM events WHERE delivery = ?", (d,))
                _enqueue(conn, d, key, payload, now)
            return len(rows)

        return await self._db.run(op)

    async def purge(self, handled_before: float) -> int:
        def op(conn: sqlite3.Connection) -> int:
            return conn.execute("DELETE FROM events WHERE state = 'done' AND finished_at < ?",
                                (handled_before,)).rowcount

        return await self._db.run(op)

    async def release_all(self, consumer: str | None = None) -> int:
        def op(conn: sqlite3.Connection) -> int:
            where, args = ("AND holder = ?", (consumer,)) if consumer else ("", ())
            return conn.execute(f"UPDATE heads SET holder = NULL, token = NULL, lease_until = NULL, taken = 0 "
                                f"WHERE token IS NOT NULL {where}", args).rowcount

        return await self._db.run(op)

    async def close(self) -> None:
        pass  # the database is closed by SqliteStores.close


class SqliteStateStore:
    def __init__(self, db: _Database) -> None:
        self._db = db

    async def get(self, ns: str, key: str) -> Any | None:
        def op(conn: sqlite3.Connection) -> Any | None:
            row = conn.execute("SELECT value FROM kv WHERE ns = ? AND key = ? AND (expires_at IS NULL OR expires_at > ?)",
                               (ns, key, time.time())).fetchone()
            return orjson.loads(row[0]) if row else None

        return await self._db.run(op)

    async def put(self, ns: str, key: str, value: Any, ttl: float | None = None) -> None:
        data = orjson.dumps(value)
        expires = time.time() + ttl if ttl is not None else None
        await self._db.run(lambda conn: conn.execute(
            "INSERT OR REPLACE INTO kv (ns, key, value, expires_at) VALUES (?, ?, ?, ?)", (ns, key, data, expires)))

    async def put_if_absent(self, ns: str, key: str, value: Any, ttl: float | None = None) -> bool:
        data = orjson.dumps(value)

        def op(conn: sqlite3.Connection) -> bool:
            now = time.time()
            expires = now + ttl if ttl is not None else None
            cur = conn.execute(
                "INSERT INTO kv (ns, key, value, expires_at) VALUES (?, ?, ?, ?) ON CONFLICT (ns, key) DO UPDATE SET "
                "value = excluded.value, expires_at = excluded.expires_at WHERE kv.expires_at IS NOT NULL "
                "AND kv.expires_at <= ?", (ns, key, data, expires, now))
            return cur.rowcount == 1

        return await self._db.run(op)

    async def delete(self, ns: str, key: str) -> None:
        await self._db.run(lambda conn: conn.execute("DELETE FROM kv WHERE ns = ? AND key = ?", (ns, key)))

    async def items(self, ns: str) -> dict[str, Any]:
        def op(conn: sqlite3.Connection) -> dict[str, Any]:
            rows = conn.execute("SELECT key, value FROM kv WHERE ns = ? AND (expires_at IS NULL OR expires_at > ?)",
                                (ns, time.time())).fetchall()
            return {k: orjson.loads(v) for k, v in rows}

        return await self._db.run(op)

    async def append(self, ns: str, value: Any, keep: int) -> None:
        data = orjson.dumps(value)

        def op(conn: sqlite3.Connection) -> None:
            conn.execute("INSERT INTO history (ns, value) VALUES (?, ?)", (ns, data))
            conn.execute("DELETE FROM history WHERE ns = ? AND seq <= (SELECT seq FROM history WHERE ns = ? "
                         "ORDER BY seq DESC LIMIT 1 OFFSET ?)", (ns, ns, keep))

        await self._db.run(op)

    async def recent(self, ns: str, limit: int) -> list[Any]:
        def op(conn: sqlite3.Connection) -> list[Any]:
            rows = conn.execute("SELECT value FROM history WHERE ns = ? ORDER BY seq DESC LIMIT ?", (ns, limit)).fetchall()
            return [orjson.loads(r[0]) for r in rows]

        return await self._db.run(op)

    async def acquire(self, name: str, holder: str, ttl: float) -> int | None:
        def op(conn: sqlite3.Connection) -> int | None:
            now = time.time()
            row = conn.execute("SELECT holder, token, until FROM leases WHERE name = ?", (name,)).fetchone()
            if row is None:
                conn.execute("INSERT INTO leases (name, holder, token, until) VALUES (?, ?, 1, ?)", (name, holder, now + ttl))
                return 1
            current, token, until = row
            if current == holder:
                conn.execute("UPDATE leases SET until = ? WHERE name = ?", (now + ttl, name))
                return token
            if until > now:
                return None
            conn.execute("UPDATE leases SET holder = ?, token = token + 1, until = ? WHERE name = ?",
                         (holder, now + ttl, name))
            return token + 1

        return await self._db.run(op)

    async def release(self, name: str, holder: str) -> None:
        # Expire rather than delete, so the fencing token keeps growing across holders.
        await self._db.run(lambda conn: conn.execute(
            "UPDATE leases SET until = 0 WHERE name = ? AND holder = ?", (name, holder)))

    async def purge(self) -> int:
        return await self._db.run(lambda conn: conn.execute(
            "DELETE FROM kv WHERE expires_at IS NOT NULL AND expires_at <= ?", (time.time(),)).rowcount)

    async def close(self) -> None:
        pass


class SqliteStores:
    """Both stores on one database file; ``close`` releases the data directory.

    ``exclusive=False`` is for short-lived tools (``prowlet queue``) beside a running server: SQLite's
    own locking keeps their few transactions safe; only a second *server* must be kept out."""

    def __init__(self, data_dir: Path, exclusive: bool = True) -> None:
        data_dir.mkdir(parents=True, exist_ok=True)
        self._lock = _DataDirLock(data_dir / "prowlet.lock") if exclusive else None
        try:
            self._db = _Database(data_dir / "state.sqlite3")
        except StoreUnavailable:
            if self._lock is not None:
                self._lock.release()
            raise
        self.events = SqliteEventQueue(self._db)
        self.state = SqliteStateStore(self._db)
        self._data_dir = data_dir
        self._queues: dict[str, tuple[_Database, SqliteEventQueue]] = {}

    def queue(self, name: str) -> SqliteEventQueue:
        """Another event queue (an outbox), in its own file so the webhook worker never claims its
        entries; closed with the stores."""
        if name not in self._queues:
            db = _Database(self._data_dir / f"{name}.sqlite3")
            self._queues[name] = (db, SqliteEventQueue(db))
        return self._queues[name][1]

    def close(self) -> None:
        for db, _ in self._queues.values():
            db.close()
        self._db.close()
        if self._lock is not None:
            self._lock.release()

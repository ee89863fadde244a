"""Open-loop HTTP load generator (stdlib only): sends by the clock, not by responses.

Request *i* of a run is due at ``t0 + i / rate``.  When it is due it goes out on an idle keep-alive
connection; if none is idle a new connection is opened (up to ``--max-conns``), and beyond that the
request waits in a backlog.  Latency is measured from the request's *scheduled* time to the last
byte of its response, so a slow server (or a stalled generator) shows up in the numbers instead of
silently lowering the offered load: no coordinated omission (the method of wrk2 / HdrHistogram).
The "service time" (from the actual write to the response) and the generator's own send lag are
reported too.

Several targets can be measured in one process, interleaved: ``--rounds`` rounds, each giving every
target a short warm-up and then ``--chunk`` measured seconds (the order alternates A B, B A, ...),
so noise from a shared machine lands on all targets alike.  Each chunk drains its responses before
the next starts.

Timing: asyncio runs on a ``select()``-based selector (epoll's timeout has 1 ms granularity, which
would add up to 1 ms of send lag to every request; select() takes microseconds).  Within ``--spin``
seconds of the next send the generator busy-polls (zero-timeout select, responses still handled)
instead of sleeping, because a VM's timed wake-ups come 0.1-0.3 ms late and its idle wake-ups later
still; at 1,000 req/s this keeps the generator's CPU busy, which is why it wants a core of its own.

Prints one JSON object (target name → results) on stdout.  Used by bench/intake.py; by hand:

    python bench/openloop.py --target prowlet=8080:202 --rate 1000 --rounds 5 --chunk 2 \
        --body-file body.json --signature sha256=...
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import math
import selectors
import sys
import uuid
from array import array
from collections import deque

QS = ("50", "90", "99", "99.9", "100")


def percentile(sorted_values, q: float) -> float:
    """Nearest-rank percentile of an already sorted sequence."""
    n = len(sorted_values)
    if not n:
        return float("nan")
    k = min(n - 1, max(0, math.ceil(q / 100 * n - 1e-9) - 1))
    return sorted_values[k]


class Target:
    """One server: its connection pool and the samples collected over all its chunks."""

    def __init__(self, name: str, port: int, expect: int, args: argparse.Namespace,
                 bodies: list[tuple[bytes, str]]) -> None:
        self.name, self.port, self.expect, self.args = name, port, expect, args
        self.loop = asyncio.get_running_loop()
        # One (head, body) per signed body; requests rotate through them (one per PR).
        self.messages = [((
            f"POST {args.path} HTTP/1.1\r\n"
            f"Host: {args.host}:{port}\r\n"
            "User-Agent: GitHub-Hookshot/prowlet-bench\r\n"
            "Accept: */*\r\n"
            "Content-Type: application/json\r\n"
            f"X-GitHub-Event: {args.event}\r\n"
            "X-GitHub-Hook-ID: 1\r\n"
            f"X-Hub-Signature-256: {signature}\r\n"
            f"Content-Length: {len(body)}\r\n"
            "X-GitHub-Delivery: "
        ).encode(), body) for body, signature in bodies]
        self.idle: deque[Conn] = deque()
        self.backlog: deque[int] = deque()
        self.conns = 0
        self.max_conns_used = 0
        self.connect_errors = 0
        self.io_errors = 0
        self.chunk_id = 0
        # samples of all measured chunks
        self.lat = array("d")
        self.svc = array("d")
        self.lag = array("d")
        self.statuses: dict[str, int] = {}
        self.requests = 0
        self.sent_total = 0  # warm-ups included
        self.timeouts = 0
        self.seconds = 0.0
        self.chunk_p99: list[float] = []

    # --- connection pool -------------------------------------------------------------------
    async def open(self) -> None:
        try:
            await self.loop.create_connection(lambda: Conn(self), self.args.host, self.port)
        except OSError:
            self.connect_errors += 1
            self.conns -= 1

    async def preconnect(self, n: int) -> None:
        while self.conns < n:
            self.conns += 1
            await self.open()
        self.max_conns_used = max(self.max_conns_used, self.conns)

    def became_idle(self, conn: Conn) -> None:
        if self.backlog:
            conn.send(self.backlog.popleft())
        else:
            self.idle.append(conn)

    def lost(self, conn: Conn) -> None:
        self.conns -= 1
        try:
            self.idle.remove(conn)
        except ValueError:
            pass

    # --- one chunk ---------------------------------------------------------------------------
    def request_bytes(self, i: int) -> bytes:
        head, body = self.messages[i % len(self.messages)]
        return b"".join((head, f"{self.args.nonce}-{self.chunk_id}-{i}\r\n\r\n".encode(), body))

    def due(self, i: int) -> None:
        if self.idle:
            self.idle.pop().send(i)
        else:
            self.backlog.append(i)
            if self.conns < self.args.max_conns:
                self.conns += 1
                self.max_conns_used = max(self.max_conns_used, self.conns)
                self.loop.create_task(self.open())

    def finished(self, chunk: int, i: int, status: int) -> None:
        if chunk != self.chunk_id:  # a straggler from a chunk already closed (counted as a timeout)
            return
        self.done[i] = self.loop.time()
        self.status[i] = status
        self.completed += 1
        if self.completed == self.n:
            self.all_done.set()

    async def chunk(self, rate: float, warmup: float, seconds: float) -> None:
        self.chunk_id += 1
        n = int(round(rate * (warmup + seconds)))
        n_warm = int(round(rate * warmup))
        self.n, self.completed, self.all_done = n, 0, asyncio.Event()
        self.sched, self.sent, self.done = (array("d", bytes(8 * n)) for _ in range(3))
        self.status = array("i", bytes(4 * n))
        self.backlog.clear()
        interval = 1.0 / rate
        spin = self.args.spin
        loop = self.loop
        t0 = loop.time() + 0.01
        i = 0
        while i < n:
            now = loop.time()
            while i < n:
                t = t0 + i * interval
                if t > now:
                    break
                self.sched[i] = t
                self.due(i)
                i += 1
            if i < n:
                wait = t0 + i * interval - loop.time()
                if spin and wait < spin:
                    await asyncio.sleep(0)  # busy-poll: select(0) + callbacks
                else:
                    await asyncio.sleep(wait - spin)
        try:
            await asyncio.wait_for(self.all_done.wait(), self.args.drain_timeout)
        except TimeoutError:
            pass
        lat = []
        for j in range(n_warm, n):
            if self.done[j] == 0.0:
                self.timeouts += 1
                continue
            st = str(self.status[j])
            self.statuses[st] = self.statuses.get(st, 0) + 1
            lat.append(self.done[j] - self.sched[j])
            self.svc.append(self.done[j] - self.sent[j])
            self.lag.append(self.sent[j] - self.sched[j])
        self.lat.extend(lat)
        lat.sort()
        self.chunk_p99.append(percentile(lat, 99) * 1000)
        self.requests += n - n_warm
        self.sent_total += n
        self.seconds += seconds
        self.chunk_id += 1  # anything still in flight now belongs to no chunk

    def report(self) -> dict:
        lat, svc, lag = sorted(self.lat), sorted(self.svc), sorted(self.lag)
        ms = lambda xs, q: percentile(xs, float(q)) * 1000  # noqa: E731
        return {
            "rate": self.args.rate,
            "seconds": self.seconds,
            "requests": self.requests,
            "sent_total": self.sent_total,
            "ok": self.statuses.get(str(self.expect), 0),
            "bad_status": sum(v for k, v in self.statuses.items() if k != str(self.expect)),
            "statuses": self.statuses,
            "timeouts": self.timeouts,
            "connect_errors": self.connect_errors,
            "io_errors": self.io_errors,
            "max_conns": self.max_conns_used,
            "latency_ms": {q: ms(lat, q) for q in QS},
            "service_ms": {q: ms(svc, q) for q in QS},
            "send_lag_ms": {q: ms(lag, q) for q in ("50", "99", "100")},
            "chunk_p99_ms": self.chunk_p99,
        }


class Conn(asyncio.Protocol):
    """One keep-alive connection carrying one request at a time."""

    def __init__(self, target: Target) -> None:
        self.target = target
        self.buf = bytearray()
        self.need = -1
        self.status = 0
        self.cur = -1
        self.cur_chunk = 0
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.target.became_idle(self)

    def send(self, i: int) -> None:
        t = self.target
        self.cur, self.cur_chunk = i, t.chunk_id
        t.sent[i] = t.loop.time()
        self.transport.write(t.request_bytes(i))  # type: ignore[union-attr]

    def data_received(self, data: bytes) -> None:
        buf = self.buf
        buf += data
        if self.need < 0:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(buf[:end]).decode("latin-1").split("\r\n")
            self.status = int(head[0].split(" ", 2)[1])
            length = 0
            for line in head[1:]:
                name, _, value = line.partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value)
            self.need = end + 4 + length
        if len(buf) >= self.need:
            i, self.cur = self.cur, -1
            del buf[: self.need]
            self.need = -1
            self.target.finished(self.cur_chunk, i, self.status)
            self.target.became_idle(self)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.cur >= 0:
            self.target.io_errors += 1  # that request gets no response: reported as a timeout
        self.target.lost(self)


async def amain(args: argparse.Namespace) -> dict:
    bodies = []
    if args.bodies:
        with open(args.bodies) as listing:
            for line in listing:
                if line.strip():
                    path, signature = line.split()
                    with open(path, "rb") as f:
                        bodies.append((f.read(), signature))
    else:
        with open(args.body_file, "rb") as f:
            bodies.append((f.read(), args.signature))
    targets = []
    for spec in args.target:
        name, _, rest = spec.partition("=")
        port, _, expect = rest.partition(":")
        targets.append(Target(name, int(port), int(expect or 202), args, bodies))
    for t in targets:
        await t.preconnect(args.preconnect)
    for r in range(args.rounds):
        order = targets if r % 2 == 0 else targets[::-1]
        for t in order:
            await t.chunk(args.rate, args.warmup if r else max(args.warmup, args.first_warmup), args.chunk)
    return {t.name: t.report() for t in targets}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--target", action="append", required=True, metavar="NAME=PORT[:STATUS]",
                   help="a server to load; STATUS is the answer that counts as acknowledged (default 202)")
    p.add_argument("--path", default="/hook/github")
    p.add_argument("--rate", type=float, default=1000.0, help="requests per second")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--chunk", type=float, default=2.0, help="measured seconds per target per round")
    p.add_argument("--warmup", type=float, default=0.25, help="unmeasured seconds before each chunk")
    p.add_argument("--first-warmup", type=float, default=1.0, help="warm-up before each target's first chunk")
    p.add_argument("--body-file", help="the one body to send (with --signature)")
    p.add_argument("--signature", help="X-Hub-Signature-256 value of --body-file")
    p.add_argument("--bodies", help="instead: a file of 'BODY_FILE SIGNATURE' lines, sent in rotation")
    p.add_argument("--event", default="issue_comment")
    p.add_argument("--nonce", default=uuid.uuid4().hex[:12], help="prefix making X-GitHub-Delivery unique")
    p.add_argument("--max-conns", type=int, default=256)
    p.add_argument("--preconnect", type=int, default=16)
    p.add_argument("--drain-timeout", type=float, default=5.0)
    p.add_argument("--spin", type=float, default=0.002,
                   help="busy-poll this many seconds before each send instead of sleeping (0: never)")
    args = p.parse_args()
    if not args.bodies and not (args.body_file and args.signature):
        sys.exit("openloop: give --bodies, or --body-file with --signature")
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        sys.exit("openloop: only sends to the local machine")
    gc.disable()  # a collector pause in the generator would show up as server latency
    loop = asyncio.SelectorEventLoop(selectors.SelectSelector())
    try:
        result = loop.run_until_complete(amain(args))
    finally:
        loop.close()
    print(json.dumps(result))


if __name__ == "__main__":
    main()

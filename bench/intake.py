"""Webhook intake benchmark: a bare aiohttp handler vs prowlet's real intake, in one run.

    .venv/bin/python bench/intake.py              # full run (~75 s: 10 s per server per test)
    .venv/bin/python bench/intake.py --quick      # smoke test (~25 s)
    .venv/bin/python bench/intake.py --breakdown  # what each intake step costs per request (~50-80 s)

Both servers run in their own processes pinned (taskset) to one CPU; the load generators run pinned
to the other.  Each test alternates between the servers in short chunks (A B, B A, ...), so the
shared machine's noise lands on both alike:

* closed loop, wrk at 16 and 64 connections: acknowledged webhooks per second;
* open loop at a fixed rate (default 1,000 req/s), bench/openloop.py: p50/p99 acknowledgement
  latency measured from each request's *scheduled* send time (no coordinated omission).

Server (a) is a bare handler that reads the body and answers 200.  Server (b) is prowlet's
``Intake`` + ``ForgeIntake("github", secret, translate)`` + a real ``KeyedWorkQueue`` (no-op handler)
+ ``DeliveryLog``, mounted as bot/app.py does.  The request is a signed ``issue_comment``/``created``
webhook padded to 20 KB, with a unique ``X-GitHub-Delivery`` per request; (b) must answer 202, and
any other answer, socket error or missing answer is counted and reported loudly (exit status 1).

Needs wrk (``apt-get install -y wrk``) and taskset (util-linux).  See bench/README.md.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import hmac
import json
import math
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
FIXTURE = ROOT / "tests/fixtures/github/issue_comment__created__1.json"
BODY_SIZE = 20 * 1024
SECRET = "bench-webhook-secret-0123456789"
SERVERS: tuple[str, ...] = ("bare", "prowlet-memory", "prowlet-sqlite", "prowlet-redis")  # narrowed by --store
STORES = ("memory", "sqlite", "redis")
# Throughput targets relative to bare aiohttp (durable intake: the targets; memory: none).
TARGET_PCT = {"prowlet-memory": None, "prowlet-sqlite": 40.0, "prowlet-redis": 30.0}
SCPU = [0]  # the servers' CPU, set in main()
PRIO: list[int] = []  # [-10] unless --no-priority


def pinned(cpu: int, cmd: list[str]) -> list[str]:
    return ["taskset", "-c", str(cpu), *cmd]


def spawn(cmd: list[str], **kw) -> subprocess.Popen:
    """Start a benchmark process in a session of its own and, unless --no-priority, raise its priority.

    With autogroup scheduling (the Linux default), ``nice`` only ranks processes within one session's
    group; every other session (say, a colleague's test loop) competes as an equal group.  So each
    benchmark process gets its own session and that session's autogroup gets the nice value too."""
    proc = subprocess.Popen(cmd, start_new_session=True, **kw)
    if PRIO:
        try:
            os.setpriority(os.PRIO_PROCESS, proc.pid, PRIO[0])
            Path(f"/proc/{proc.pid}/autogroup").write_text(str(PRIO[0]))
        except OSError:
            pass  # the process may already be gone, or autogroup is disabled
    return proc


def run(cmd: list[str], timeout: float) -> subprocess.CompletedProcess:
    proc = spawn(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        fail(f"{cmd[3]} did not finish in {timeout:.0f} s:\n{err[-2000:]}")
    return subprocess.CompletedProcess(cmd, proc.returncode, out, err)
EXPECT = {"bare": 200, **{f"prowlet-{k}": 202 for k in STORES}}
LABEL = {"bare": "bare aiohttp", **{f"prowlet-{k}": f"prowlet {k}" for k in STORES}}
# --breakdown: the bare handler plus prowlet's own steps, one more per server (all answer 200), then
# the real intake.
STAGES = {
    "bare": "bare: read body, answer 200",
    "verify": "+ github_signature_ok (HMAC-SHA256)",
    "decode": "+ _decode (orjson)",
    "translate": "+ translate() + order_key()",
    "prowlet-memory": "prowlet Intake (+ in-memory queue, worker, JSON 202)",
    "prowlet-sqlite": "prowlet Intake (+ durable SQLite queue, worker, JSON 202)",
}
for _k in STAGES:
    EXPECT.setdefault(_k, 202 if _k.startswith("prowlet") else 200)


# --------------------------------------------------------------------------------------------
# Server processes (run as: bench/intake.py --serve KIND --port N)
# --------------------------------------------------------------------------------------------


def serve(kind: str, port: int) -> None:
    try:  # stop with the orchestrator even if it is killed outright (the server has its own session)
        import ctypes

        ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass
    sys.path.insert(0, str(ROOT))
    from aiohttp import web

    from bot.http_guard import MAX_BODY

    handled = 0
    if not kind.startswith("prowlet"):
        from bot.events import order_key
        from bot.forge.github.translate import translate
        from bot.intake import _decode
        from bot.verify import github_signature_ok

        level = list(STAGES).index(kind)

        async def hook(request: web.Request) -> web.Response:
            body = await request.read()
            if level >= 1 and not github_signature_ok(SECRET, body, request.headers.get("X-Hub-Signature-256")):
                return web.Response(status=401, text="bad signature")
            if level >= 2:
                payload = _decode(body, request.content_type)
                if level >= 3:
                    order_key(translate(request.headers["X-GitHub-Event"], request.headers["X-GitHub-Delivery"],
                                        payload))
            return web.Response(text="ok")

        async def healthz(request: web.Request) -> web.Response:
            return web.Response(text="ok")

        app = web.Application(client_max_size=MAX_BODY)
        app.add_routes([web.post("/hook/github", hook), web.get("/healthz", healthz)])
    else:
        # The real intake on the real store, with the real worker claiming and acknowledging every
        # event (its handler does nothing): the store carries intake's and the worker's load, as in
        # `prowlet serve`.
        from bot.config import QueueSettings
        from bot.events import Event
        from bot.forge.github.translate import translate
        from bot.intake import ForgeIntake, Intake
        from bot.logs import configure_logging
        from bot.store import open_stores
        from bot.worker import EventWorker

        configure_logging([SECRET], fmt="json", level="info")  # as `prowlet serve` does off a terminal
        store_kind = kind.split("-", 1)[1]
        data_dir = Path(os.environ["BENCH_DATA_DIR"]) / kind
        if store_kind == "redis":
            stores = open_stores(data_dir, os.environ["BENCH_REDIS_URL"], redis_prefix=f"bench{os.getpid()}")
        else:
            stores = open_stores(data_dir, kind=store_kind if store_kind == "memory" else None)

        async def noop(event: Event, attempt: int) -> None:  # we measure intake, not plugins
            nonlocal handled
            handled += 1

        qs = QueueSettings()  # the defaults build_app would read from the config
        worker = EventWorker(stores.events, noop, consumer="bench", max_concurrent=qs.max_concurrent_items)
        intake = Intake([ForgeIntake("github", SECRET, translate)], stores.events, worker.wake)
        app = web.Application(client_max_size=MAX_BODY)
        app.add_routes(intake.routes())

        async def start(app: web.Application) -> None:
            worker.start()

        async def drain(app: web.Application) -> None:
            await worker.stop(1)

        async def close(app: web.Application) -> None:
            await stores.close()

        app.on_startup.append(start)
        app.on_shutdown.append(drain)
        app.on_cleanup.append(close)

    # Same start-up as bot/cli.py: freeze what start-up allocated, no access log; prowlet on its own
    # guarded runner (bot/http_guard.py: timeouts, connection cap, no decompression).
    import gc

    gc.freeze()
    if kind.startswith("prowlet"):
        from bot.http_guard import serve as serve_guarded

        serve_guarded(app, "127.0.0.1", port, shutdown_timeout=5)
    else:
        web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None, shutdown_timeout=5)
    print(json.dumps({"handled": handled}), flush=True)


# --------------------------------------------------------------------------------------------
# Orchestrator
# --------------------------------------------------------------------------------------------


def fail(msg: str, code: int = 2) -> None:
    print(f"bench/intake.py: {msg}", file=sys.stderr)
    sys.exit(code)


def check_tools() -> None:
    missing = [t for t in ("wrk", "taskset") if shutil.which(t) is None]
    if missing:
        pkg = {"wrk": "wrk", "taskset": "util-linux"}
        fail(
            "missing tool(s): " + ", ".join(missing) + "\n  install with:  apt-get update && apt-get install -y "
            + " ".join(pkg[m] for m in missing)
            + "\n  (wrk2 is not packaged by Debian; the open-loop test uses bench/openloop.py instead)"
        )


PADDING = ["repository"]  # where make_body puts the bytes that bring the webhook to its size (--padding)


def make_body(size: int, number: int | None = None) -> bytes:
    """The signed test webhook, padded to ``size`` bytes; ``number``: the PR it comments on.

    ``--padding repository`` (the default) grows the repository object, as real webhooks are large:
    GitHub's ``issue_comment`` payloads in tests/fixtures are 12-16 KB, nearly all of it repository,
    issue and user objects that translation drops, around a comment of a few words.  ``--padding
    comment`` puts the bytes in the comment itself (a 20 KB comment: the worst case for the store,
    which keeps the comment)."""
    payload = json.loads(FIXTURE.read_text())
    if number is not None:
        payload["issue"]["number"] = number
    assert payload["action"] == "created" and "comment" in payload
    if PADDING[0] == "comment":
        base = payload["comment"]["body"] + "\n\n"
        filler = "/lgtm looks good to me, thanks for the careful change. " * (size // 50 + 1)
        target, key = payload["comment"], "body"
    else:
        payload["comment"]["body"] = "/lgtm"
        base = payload["repository"].get("description") or ""
        filler = " A repository description, topics and custom properties as real payloads carry." * (size // 80 + 1)
        target, key = payload["repository"], "description"
    target[key] = base
    overhead = len(json.dumps(payload, separators=(",", ":")).encode())
    target[key] = base + filler[: max(0, size - overhead)]
    body = json.dumps(payload, separators=(",", ":")).encode()  # GitHub sends compact JSON
    assert abs(len(body) - size) < 64, len(body)
    return body


def sign(body: bytes) -> str:
    return "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process, in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def core_busy(cpu: int) -> float:
    """Non-idle seconds of one CPU since boot (from /proc/stat)."""
    with open("/proc/stat") as f:
        for line in f:
            if line.startswith(f"cpu{cpu} "):
                v = [int(x) for x in line.split()[1:]]
                idle = v[3] + v[4]
                return (sum(v[:8]) - idle) / os.sysconf("SC_CLK_TCK")
    return float("nan")


def steal(cpu: int) -> float:
    """Seconds the hypervisor kept this virtual CPU from running, since boot."""
    with open("/proc/stat") as f:
        for line in f:
            if line.startswith(f"cpu{cpu} "):
                return int(line.split()[8]) / os.sysconf("SC_CLK_TCK")
    return float("nan")


class Server:
    def __init__(self, kind: str, cpu: int, tmp: Path) -> None:
        self.kind = kind
        self.port = free_port()
        self.errlog = tmp / f"{kind}.stderr"
        self.outlog = tmp / f"{kind}.stdout"
        env = {**os.environ, "BENCH_DATA_DIR": str(tmp)}
        self.proc = spawn(
            pinned(cpu, [sys.executable, str(Path(__file__).resolve()), "--serve", kind, "--port", str(self.port)]),
            stdout=open(self.outlog, "w"), stderr=open(self.errlog, "w"), cwd=ROOT, env=env,
        )
        deadline = time.monotonic() + 20
        while True:
            if self.proc.poll() is not None:
                fail(f"{kind} server exited at start-up:\n{self.errlog.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/healthz", timeout=1):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    self.stop()
                    fail(f"{kind} server did not come up in 20 s")
                time.sleep(0.1)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook/github"

    def cpu(self) -> float:
        return cpu_seconds(self.proc.pid)

    def stop(self) -> dict:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        try:
            return json.loads(self.outlog.read_text().strip().splitlines()[-1])
        except (IndexError, ValueError):
            return {}


def post(url: str, body: bytes, signature: str, delivery: str) -> tuple[int, str]:
    req = urllib.request.Request(url, data=body, method="POST", headers={
        "Content-Type": "application/json", "X-GitHub-Event": "issue_comment",
        "X-GitHub-Delivery": delivery, "X-Hub-Signature-256": signature,
    })
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


def sanity(servers: dict[str, Server], body: bytes, signature: str) -> list[str]:
    """Functional checks before load: prowlet accepts, de-duplicates and rejects bad signatures."""
    problems = []
    d = str(uuid.uuid4())
    checks = [("bare", body, signature, d, 200)]
    for kind in SERVERS[1:]:
        checks += [
            (kind, body, signature, d, 202),
            (kind, body, signature, d, 200),  # same delivery id → "duplicate"
            (kind, body, "sha256=" + "0" * 64, str(uuid.uuid4()), 401),
        ]
    for kind, b, sig, delivery, want in checks:
        status, text = post(servers[kind].url, b, sig, delivery)
        if status != want:
            problems.append(f"{kind}: expected {want}, got {status} {text[:200]}")
    return problems


def wrk(server: Server, conns: int, seconds: int, cpu: int, body_file: Path, signature: str) -> dict:
    nonce = uuid.uuid4().hex[:12]
    if body_file.suffix == ".list":
        signature = "-"  # each body's signature is in the list
    cmd = pinned(cpu, ["wrk", "-t1", f"-c{conns}", f"-d{seconds}s", "--timeout", "5s",
                       "-s", str(HERE / "webhook.lua"), server.url, "--", str(body_file), signature, nonce])
    out = run(cmd, timeout=seconds + 30)
    for line in out.stdout.splitlines():
        if line.startswith("BENCHJSON "):
            r = json.loads(line[len("BENCHJSON "):])
            r["seconds"] = r["duration_us"] / 1e6
            r["ok"] = r["statuses"].get(str(EXPECT[server.kind]), 0)
            r["bad_status"] = sum(v for k, v in r["statuses"].items() if k != str(EXPECT[server.kind]))
            r["socket_errors"] = sum(r["errors"][k] for k in ("connect", "read", "write", "timeout"))
            r["rps"] = r["ok"] / r["seconds"]
            return r
    fail(f"wrk produced no result (rc={out.returncode}):\n{out.stdout}\n{out.stderr}")
    return {}


def openloop(servers: dict[str, Server], rate: float, rounds: int, chunk: float, warmup: float, cpu: int,
             body_file: Path, signature: str) -> dict:
    """Both servers in one generator process, chunks interleaved A B / B A / ..."""
    cmd = pinned(cpu, [sys.executable, str(HERE / "openloop.py"), "--rate", str(rate), "--rounds", str(rounds),
                       "--chunk", str(chunk), "--first-warmup", str(warmup), "--nonce", uuid.uuid4().hex[:12]]
                 + (["--bodies", str(body_file)] if body_file.suffix == ".list"
                    else ["--body-file", str(body_file), "--signature", signature]))
    for kind in SERVERS:
        cmd += ["--target", f"{kind}={servers[kind].port}:{EXPECT[kind]}"]
    budget = len(SERVERS) * rounds * (chunk + 0.25 + 5) + 2 * warmup + 30
    cpu0 = {k: servers[k].cpu() for k in SERVERS}
    busy0, t0 = core_busy(SCPU[0]), time.monotonic()
    out = run(cmd, timeout=budget)
    wall = time.monotonic() - t0
    if out.returncode != 0:
        fail(f"openloop failed (rc={out.returncode}):\n{out.stderr[-3000:]}")
    res = json.loads(out.stdout.strip().splitlines()[-1])
    other = max(0.0, core_busy(SCPU[0]) - busy0 - sum(servers[k].cpu() - cpu0[k] for k in SERVERS)) / wall * 100
    for kind in SERVERS:
        r = res[kind]
        r["server_cpu_s"] = servers[kind].cpu() - cpu0[kind]
        r["cpu_us_per_req"] = r["server_cpu_s"] / max(1, r["sent_total"]) * 1e6
        r["core_other_pct"] = other
        check_alive(servers[kind])
    return res


def check_alive(server: Server) -> None:
    if server.proc.poll() is not None:
        fail(f"{server.kind} server died during the run:\n{server.errlog.read_text()[-3000:]}")


def closed_loop(servers: dict[str, Server], conns: int, rounds: int, chunk: int, cpu: int, body_file: Path,
                signature: str, kinds: tuple[str, ...] | None = None) -> dict:
    """wrk against each server in ``chunk``-second pieces, interleaved A B / B A / ..."""
    kinds = kinds or SERVERS
    res = {k: {"ok": 0, "seconds": 0.0, "statuses": {}, "bad_status": 0, "socket_errors": 0,
               "errors": {}, "server_cpu_s": 0.0, "chunk_rps": [], "chunk_p99_ms": [], "busy_s": 0.0}
           for k in kinds}
    for r in range(rounds):
        for kind in (kinds if r % 2 == 0 else kinds[::-1]):
            srv, acc = servers[kind], res[kind]
            c0, b0 = srv.cpu(), core_busy(SCPU[0])
            w = wrk(srv, conns, chunk, cpu, body_file, signature)
            c1, b1 = srv.cpu(), core_busy(SCPU[0])
            check_alive(srv)
            acc["ok"] += w["ok"]
            acc["seconds"] += w["seconds"]
            acc["bad_status"] += w["bad_status"]
            acc["socket_errors"] += w["socket_errors"]
            for k, v in w["statuses"].items():
                acc["statuses"][k] = acc["statuses"].get(k, 0) + v
            for k, v in w["errors"].items():
                acc["errors"][k] = acc["errors"].get(k, 0) + v
            acc["server_cpu_s"] += c1 - c0
            acc["busy_s"] += max(0.0, (b1 - b0) - (c1 - c0))
            acc["chunk_rps"].append(w["rps"])
            acc["chunk_p99_ms"].append(w["latency_ms"]["99"])
    for acc in res.values():
        acc["rps"] = acc["ok"] / acc["seconds"] if acc["seconds"] else 0.0
        acc["cpu_us_per_req"] = acc["server_cpu_s"] / max(1, acc["ok"]) * 1e6
        acc["core_other_pct"] = acc.pop("busy_s") / acc["seconds"] * 100 if acc["seconds"] else 0.0
    return res


def fmt(x: float, nd: int = 1) -> str:
    return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:,.{nd}f}"


def main() -> None:
    p = argparse.ArgumentParser(description="bare aiohttp vs prowlet intake: throughput and latency")
    p.add_argument("--duration", type=int, default=10,
                   help="measured seconds per server per test (default 10), split into interleaved chunks")
    p.add_argument("--chunk", type=int, default=2, help="seconds per interleaved chunk (default 2)")
    p.add_argument("--warmup", type=int, default=2, help="warm-up seconds per server (default 2)")
    p.add_argument("--rate", type=float, default=1000.0, help="open-loop request rate (default 1000/s)")
    p.add_argument("--quick", action="store_true", help="smoke test: 3 s per measurement in 1 s chunks, 1 s warm-up")
    p.add_argument("--server-cpu", type=int, help="CPU for the servers (default: first allowed)")
    p.add_argument("--load-cpu", type=int, help="CPU for the load generators (default: second allowed)")
    p.add_argument("--no-priority", action="store_true",
                   help="do not run servers and generators at nice -10 in sessions of their own (they then "
                        "compete evenly with whatever else runs on the shared machine)")
    p.add_argument("--json", help="also write all raw results to this file")
    p.add_argument("--breakdown", action="store_true",
                   help="instead of the comparison: where prowlet's extra time per request goes (closed loop "
                        "c=64 against the bare handler plus one intake step at a time)")
    p.add_argument("--prs", type=int, default=64,
                   help="spread the webhooks over this many PRs (default 64, as real traffic; 1: every webhook "
                        "on one PR, so each PR's events queue behind each other)")
    p.add_argument("--store", action="append", choices=STORES,
                   help="which prowlet store(s) to measure against bare aiohttp (repeatable; default: all three)")
    p.add_argument("--padding", choices=("repository", "comment"), default="repository",
                   help="where the 20 KB come from: the repository object, as in real webhooks (default), or "
                        "the comment body (a 20 KB comment, which the store keeps: its worst case)")
    p.add_argument("--serve", choices=list(EXPECT), help=argparse.SUPPRESS)
    p.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = p.parse_args()

    PADDING[0] = args.padding
    if args.serve:
        serve(args.serve, args.port)
        return
    global SERVERS
    SERVERS = ("bare", *(f"prowlet-{k}" for k in (args.store or STORES)))
    if args.quick:
        args.duration, args.chunk, args.warmup = 3, 1, 1
    if args.duration < 1 or args.chunk < 1 or args.rate <= 0:
        fail("--duration and --chunk must be at least 1 s, --rate positive")
    args.chunk = min(args.chunk, args.duration)
    rounds = max(1, round(args.duration / args.chunk))
    check_tools()
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2 and (args.server_cpu is None or args.load_cpu is None):
        fail(f"needs two CPUs (server and load generator on separate cores); allowed: {cpus}")
    scpu = cpus[0] if args.server_cpu is None else args.server_cpu
    lcpu = cpus[1] if args.load_cpu is None else args.load_cpu
    if scpu == lcpu:
        fail("--server-cpu and --load-cpu must differ")
    SCPU[0] = scpu
    if not args.no_priority:
        if os.geteuid() == 0:
            PRIO[:] = [-10]
        else:
            print("note: not root, so servers and generators run at normal priority", file=sys.stderr)

    sys.path.insert(0, str(ROOT))
    from bot.events import CommentEvent
    from bot.forge.github.translate import translate

    body = make_body(BODY_SIZE)
    signature = sign(body)
    event = translate("issue_comment", "x", json.loads(body))
    if not isinstance(event, CommentEvent):
        fail(f"translate() did not produce a CommentEvent for the payload: {event!r}")

    if args.breakdown:
        breakdown(args, rounds, scpu, lcpu, body, signature)
        return
    started = time.monotonic()
    load0 = os.getloadavg()
    steal0 = (steal(scpu), steal(lcpu))
    results: dict[str, dict] = {k: {} for k in SERVERS}
    handled: dict[str, dict] = {}
    with redis_if_needed(SERVERS, lcpu), running_servers(SERVERS, scpu, body, handled, args.prs) as (servers, body_file):
        problems = sanity(servers, body, signature)
        if problems:
            fail("sanity check failed:\n  " + "\n  ".join(problems))
        print(f"servers up on CPU {scpu}, load generators on CPU {lcpu}; body {len(body):,} B padded in the {args.padding}; "
              f"{rounds} x {args.chunk} s per server per test, interleaved; warm-up {args.warmup} s",
              flush=True)
        for kind in SERVERS:  # warm-up: imports, allocator, caches, connection set-up
            wrk(servers[kind], 16, args.warmup, lcpu, body_file, signature)

        for conns in (16, 64):
            res = closed_loop(servers, conns, rounds, args.chunk, lcpu, body_file, signature)
            for kind in SERVERS:
                results[kind][f"c{conns}"] = res[kind]
                r = res[kind]
                print(f"  c={conns:<3} {LABEL[kind]:<20} {fmt(r['rps']):>9} acked/s  "
                      f"(chunks {', '.join(f'{x:,.0f}' for x in r['chunk_rps'])})", flush=True)
        res = openloop(servers, args.rate, rounds, args.chunk, args.warmup, lcpu, body_file, signature)
        for kind in SERVERS:
            results[kind]["open"] = r = res[kind]
            print(f"  {args.rate:g}/s {LABEL[kind]:<20} p50 {fmt(r['latency_ms']['50'], 2)} ms  "
                  f"p99 {fmt(r['latency_ms']['99'], 2)} ms  (chunk p99s "
                  f"{', '.join(f'{x:.1f}' for x in r['chunk_p99_ms'])})", flush=True)
    elapsed = time.monotonic() - started
    args.steal = ((steal(scpu) - steal0[0]) / elapsed * 100, (steal(lcpu) - steal0[1]) / elapsed * 100)
    if args.json:
        Path(args.json).write_text(json.dumps({"results": results, "handled": handled}, indent=2))
    report(args, results, handled, body, scpu, lcpu, elapsed, load0, rounds)


@contextlib.contextmanager
def redis_if_needed(kinds, cpu: int):  # noqa: ANN201
    """A real redis-server (append-only, fsync always: the durability the deployment docs ask for)
    for the prowlet-redis server, its URL passed in the environment.  Pinned to the load generators'
    CPU: in a deployment Redis is its own service, so it does not take the server core's CPU."""
    if "prowlet-redis" not in kinds:
        yield
        return
    binary = shutil.which("redis-server")
    if binary is None:
        fail("--store redis needs redis-server (apt-get install -y redis-server)")
    with tempfile.TemporaryDirectory(prefix="prowlet-bench-redis-") as tmp:
        port = free_port()
        proc = spawn(pinned(cpu, [binary, "--port", str(port), "--bind", "127.0.0.1", "--dir", tmp, "--save", "",
                                  "--appendonly", "yes", "--appendfsync", "always"]),
                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.environ["BENCH_REDIS_URL"] = f"redis://127.0.0.1:{port}/0"
        try:
            deadline = time.monotonic() + 10
            while True:
                try:
                    with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                        break
                except OSError:
                    if time.monotonic() > deadline:
                        fail("redis-server did not start")
                    time.sleep(0.05)
            yield
        finally:
            proc.terminate()
            proc.wait(10)


@contextlib.contextmanager
def running_servers(kinds, scpu: int, body: bytes, handled: dict[str, dict], prs: int = 1):  # noqa: ANN201
    """Start one server process per kind on CPU ``scpu`` with the request body on disk for wrk;
    stop them all at the end, recording what each handled in ``handled``.  With ``prs`` > 1 the load
    is a list of bodies, one per PR (``bodies.list`` of "path signature" lines), sent in rotation."""
    with tempfile.TemporaryDirectory(prefix="prowlet-bench-") as tmpdir:
        tmp = Path(tmpdir)
        body_file = tmp / "body.json"
        body_file.write_bytes(body)
        if prs > 1:
            lines = []
            for number in range(1, prs + 1):
                path = tmp / f"body-{number}.json"
                path.write_bytes(make_body(len(body), number))
                lines.append(f"{path} {sign(path.read_bytes())}")
            body_file = tmp / "bodies.list"
            body_file.write_text("\n".join(lines) + "\n")
        servers: dict[str, Server] = {}
        try:
            for kind in kinds:
                servers[kind] = Server(kind, scpu, tmp)
            yield servers, body_file
        finally:
            for kind, srv in servers.items():
                handled[kind] = srv.stop()


def breakdown(args, rounds: int, scpu: int, lcpu: int, body: bytes, signature: str) -> None:
    """Closed loop c=64 against the bare handler + one more intake step per server; the CPU time per
    request of each, and what each step adds (a profiler-free breakdown: no sampling overhead)."""
    kinds = tuple(STAGES)
    started = time.monotonic()
    with running_servers(kinds, scpu, body, {}) as (servers, body_file):
        for kind in kinds:
            status, text = post(servers[kind].url, body, signature, str(uuid.uuid4()))
            if status != EXPECT[kind]:
                fail(f"{kind}: expected {EXPECT[kind]}, got {status} {text[:200]}")
            wrk(servers[kind], 16, args.warmup, lcpu, body_file, signature)
        print(f"{len(kinds)} servers on CPU {scpu}, wrk -c64 on CPU {lcpu}; {rounds} x {args.chunk} s each, "
              "interleaved", flush=True)
        res = closed_loop(servers, 64, rounds, args.chunk, lcpu, body_file, signature, kinds)
    print()
    head = ("server", "acked/s", "CPU us/req", "step adds (us)", "% of prowlet")
    total = res[kinds[-1]]["cpu_us_per_req"]
    rows, prev = [], None
    for kind in kinds:
        r = res[kind]
        cpu = r["cpu_us_per_req"]
        step = "" if prev is None else fmt(cpu - prev, 0)
        share = "" if prev is None else f"{(cpu - prev) / total * 100:.0f} %"
        if kind == "bare":
            share = f"{cpu / total * 100:.0f} %"
        bad = "" if not (r["bad_status"] or r["socket_errors"]) else f"  !! {r['statuses']} {r['errors']}"
        rows.append((STAGES[kind], fmt(r["rps"]), fmt(cpu, 0), step, share + bad))
        prev = cpu
    widths = [max(len(x[i]) for x in rows + [head]) for i in range(5)]
    for r in [head, tuple("-" * w for w in widths), *rows]:
        print("  ".join(r[0].ljust(widths[0]) if i == 0 else r[i].rjust(widths[i]) for i in range(5)).rstrip())
    bare = res["bare"]["rps"]
    for kind in kinds[-2:]:
        print(f"{kind}: {res[kind]['rps'] / bare * 100:.1f} % of bare throughput (this run)")
    print(f"total {time.monotonic() - started:.0f} s")


def report(args, results, handled, body, scpu, lcpu, elapsed, load0, rounds) -> None:
    """One table: bare aiohttp, then each prowlet store as "value (ratio to bare)"; targets per store."""
    kinds = SERVERS[1:]
    bare = results["bare"]
    rate = args.rate
    rows: list[tuple[str, ...]] = []
    verdicts: list[tuple[str, bool]] = []

    def cells(values: dict[str, float], base: float, nd: int, as_pct: bool) -> list[str]:
        out = []
        for kind in kinds:
            v = values[kind]
            ratio = (f"{v / base * 100:.0f} %" if as_pct else f"{v / base:.2f} x") if base else "n/a"
            out.append(f"{fmt(v, nd)} ({ratio})")
        return out

    for key in ("c16", "c64"):
        values = {k: results[k][key]["rps"] for k in kinds}
        rows.append((f"throughput c={key[1:]} (acked/s)", fmt(bare[key]["rps"]),
                     *cells(values, bare[key]["rps"], 0, True)))
        for kind in kinds:
            target = TARGET_PCT[kind]
            if target is not None and bare[key]["rps"]:
                verdicts.append((f"{LABEL[kind]} throughput c={key[1:]} >= {target:.0f} % of bare",
                                 values[kind] / bare[key]["rps"] * 100 >= target))
    for key in ("c16", "c64"):
        values = {k: results[k][key]["cpu_us_per_req"] for k in kinds}
        rows.append((f"  server CPU per request c={key[1:]} (us)", fmt(bare[key]["cpu_us_per_req"], 0),
                     *cells(values, bare[key]["cpu_us_per_req"], 0, False)))
    for key in ("c16", "c64"):
        def median_p99(kind: str) -> float:
            chunks = sorted(results[kind][key]["chunk_p99_ms"])
            return chunks[len(chunks) // 2]
        rows.append((f"  wrk p99 latency c={key[1:]} (ms, median chunk)", fmt(median_p99("bare"), 2),
                     *[fmt(median_p99(k), 2) for k in kinds]))
    for q, name in (("50", "p50"), ("90", "p90"), ("99", "p99"), ("99.9", "p99.9"), ("100", "max")):
        base = bare["open"]["latency_ms"][q]
        values = {k: results[k]["open"]["latency_ms"][q] for k in kinds}
        rows.append((f"open loop {rate:g}/s {name} (ms)", fmt(base, 2), *cells(values, base, 2, False)))
        if q == "99":
            for kind in kinds:
                verdicts.append((f"{LABEL[kind]} open-loop p99 <= 3 x bare", values[kind] <= 3 * base))
    for field, name in (("service_ms", "service-time p99"), ("send_lag_ms", "generator send lag p99")):
        rows.append((f"  open loop {name} (ms)", fmt(bare["open"][field]["99"], 2),
                     *[fmt(results[k]["open"][field]["99"], 2) for k in kinds]))

    head = ("measurement", LABEL["bare"], *[LABEL[k] for k in kinds])
    widths = [max(len(r[i]) for r in rows + [head]) for i in range(len(head))]

    def line(r):
        return "  ".join((r[i].ljust(widths[i]) if i == 0 else r[i].rjust(widths[i])) for i in range(len(head))).rstrip()

    rule = "=" * len(line(head))
    print()
    print(rule)
    print(f"prowlet webhook intake benchmark: signed issue_comment/created, {len(body):,}-byte body, "
          "unique X-GitHub-Delivery; prowlet stores each delivery before answering 202")
    print(f"servers pinned to CPU {scpu}, load generators to CPU {lcpu}; per server and test: {rounds} x "
          f"{args.chunk} s, interleaved with the other servers")
    print("closed loop: wrk -t1 (acked/s = responses with the expected status / s); open loop: bench/openloop.py,")
    print("latency from each request's scheduled send time (no coordinated omission); (x) = ratio to bare")
    print(rule)
    print(line(head))
    print(line(tuple("-" * w for w in widths)))
    for r in rows:
        print(line(r))
    print()

    loud = []
    for kind in SERVERS:
        res, parts = results[kind], []
        for key in ("c16", "c64"):
            r = res[key]
            parts.append(f"c={key[1:]}: {r['statuses']}, socket errors {r['socket_errors']}")
            if r["bad_status"] or r["socket_errors"] or not r["ok"]:
                loud.append(f"{LABEL[kind]} c={key[1:]}: {r['bad_status']} responses other than {EXPECT[kind]}, "
                            f"{r['socket_errors']} socket errors {r['errors']}")
        r = res["open"]
        conn_err = r["connect_errors"] + r["io_errors"]
        parts.append(f"open: {r['statuses']}, unanswered {r['timeouts']}, connection errors {conn_err}, "
                     f"max connections {r['max_conns']}")
        if r["bad_status"] or r["timeouts"] or conn_err or not r["ok"]:
            loud.append(f"{LABEL[kind]} open loop: {r['bad_status']} responses other than {EXPECT[kind]}, "
                        f"{r['timeouts']} unanswered, {conn_err} connection errors")
        print(f"{LABEL[kind]} statuses (expected {EXPECT[kind]}): " + "; ".join(parts))
    for kind in kinds:
        acked = sum(results[kind][k]["ok"] for k in ("c16", "c64", "open"))
        ran = handled.get(kind, {}).get("handled")
        print(f"{LABEL[kind]}: the worker handled {ran if ran is None else format(ran, ',')} events by shutdown "
              f"(measured 202s: {acked:,}; spread over {args.prs} PR(s))")
    noise = ", ".join(f"{t} " + "/".join(f"{results[k][t]['core_other_pct']:.0f}" for k in SERVERS)
                      for t in ("c16", "c64"))
    print(f"other load on CPU {scpu} (not our servers; % of a core, per server): {noise}")
    print(f"load average {load0[0]:.2f} at start, {os.getloadavg()[0]:.2f} at end; hypervisor steal "
          f"CPU {scpu} {args.steal[0]:.1f} %, CPU {lcpu} {args.steal[1]:.1f} %; total run {elapsed:.0f} s")
    noisy = [f"{k}/{t}" for k in SERVERS for t in ("c16", "c64", "open") if results[k][t]["core_other_pct"] > 25]
    if noisy:
        print(f"WARNING: other processes ran on CPU {scpu} for >25% of the time during {', '.join(noisy)}: tail "
              "latencies there are inflated and noisy; rerun when the machine is quieter")
    for kind in SERVERS:
        sat = results[kind]["c64"]["rps"]
        if sat and rate > 0.8 * sat:
            print(f"NOTE: {LABEL[kind]} saturates at ~{sat:,.0f} acked/s, so {rate:g} req/s is >80% of its "
                  "capacity: its open-loop latency is dominated by queueing.")
    print()
    if loud:
        print("!" * 78)
        print("!!! ERRORS DURING THE RUN: the numbers above are NOT trustworthy")
        for msg in loud:
            print(f"!!!   {msg}")
        print("!" * 78)
    for what, ok in verdicts:
        print(f"  {'PASS' if ok else 'MISS'}  {what}")
    missed = sum(1 for _, ok in verdicts if not ok)
    print("RESULT: " + ("all targets met" if not missed else f"{missed} of {len(verdicts)} targets missed")
          + (" (WITH ERRORS)" if loud else ""))
    if loud:
        sys.exit(1)


if __name__ == "__main__":
    main()

"""`prowlet simulate` as a real process against the fake forges: it prints what prowlet would do,
and the forge receives reads only — no write at all."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from bot.events import ItemKind
from tests.conftest import AUTHOR, COLLAB, REPO
from tests.fakes.base import FakeForge
from tests.served import PROWLET, forge_env


def simulate(fake: FakeForge, tmp_path: Path, *args: str, env: dict[str, str] | None = None,
             config: str | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "GITLAB_", "PROWLET_"))}
    full_env.update(PROWLET_DATA_DIR=str(tmp_path / "data"), PROWLET_LOG_FORMAT="json")
    full_env.update(forge_env(fake) if env is None else env)
    extra: list[str] = []
    if config is not None:
        path = tmp_path / "config.yaml"
        path.write_text(config)
        extra = ["--config", str(path)]
    return subprocess.run([str(PROWLET), "simulate", "--forge", fake.name, "--repo", REPO, *extra, *args],
                          env=full_env, capture_output=True, text=True, timeout=60)


def writes_since(fake: FakeForge, start: int) -> list[str]:
    # A GraphQL query (GitHub's open-PR listing) is a POST that only reads.
    return [f"{r.method} {r.path}" for r in fake.requests[start:]
            if r.method not in ("GET", "HEAD") and r.path != "/api/graphql"]


def pull_kind(fake: FakeForge) -> dict[str, Any]:
    return {"kind": ItemKind.PULL} if fake.name == "gitlab" else {}


def open_pull(fake: FakeForge, labels: list[str] = ()) -> int:  # type: ignore[assignment]
    number, _ = fake.open_pull(REPO, author=AUTHOR, title="Add the widget API")
    if labels:
        fake.set_labels(REPO, number, labels, **pull_kind(fake))
    return number


def test_a_comment_prints_the_plan_and_writes_nothing(fake: FakeForge, tmp_path: Path) -> None:
    number = open_pull(fake)
    start = len(fake.requests)
    done = simulate(fake, tmp_path, "--number", str(number), "--user", COLLAB, "/lgtm")
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert f"comment by {COLLAB} on {REPO}!{number}: '/lgtm'" in out
    assert "/lgtm: done" in out
    assert f"add_labels(ref={REPO}!{number}, labels=['lgtm'])" in out
    assert "(simulated: nothing was written to the forge)" in out
    assert fake.requests[start:], "the simulation read nothing from the forge"
    assert writes_since(fake, start) == []
    assert "lgtm" not in fake.labels(REPO, number, **pull_kind(fake))  # type: ignore[call-arg]


def test_a_refusal_prints_the_reply_it_would_post(fake: FakeForge, tmp_path: Path) -> None:
    number = open_pull(fake)
    start = len(fake.requests)
    done = simulate(fake, tmp_path, "--number", str(number), "--user", AUTHOR, "/lgtm")
    assert done.returncode == 0, done.stderr
    assert "/lgtm: refused" in done.stdout
    assert f"comment on {REPO}!{number}:" in done.stdout
    assert f"    | @{AUTHOR}: you can't use `/lgtm`" in done.stdout
    assert writes_since(fake, start) == []


def test_why_through_simulate_lists_every_reason(fake: FakeForge, tmp_path: Path) -> None:
    number = open_pull(fake, ["lgtm", "do-not-merge/hold"])
    start = len(fake.requests)
    done = simulate(fake, tmp_path, "--number", str(number), "--user", "zed", "/why", config="merge: {}\n")
    assert done.returncode == 0, done.stderr
    assert "    | - Needs approved label — an approver writes /approve" in done.stdout
    assert "    | - Should not have do-not-merge/hold label — `/hold cancel`" in done.stdout
    assert writes_since(fake, start) == []


def test_a_merge_pass_prints_every_verdict_and_what_it_would_merge(fake: FakeForge, tmp_path: Path) -> None:
    ready = open_pull(fake, ["lgtm", "approved"])
    held = open_pull(fake, ["lgtm", "approved", "do-not-merge/hold"])
    start = len(fake.requests)
    done = simulate(fake, tmp_path, "merge", config="merge: {}\n")
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert f"{REPO}!{ready} 'Add the widget API' into main: ready (In merge pool.)" in out
    assert f"{REPO}!{held} 'Add the widget API' into main: waiting (Not mergeable. Should not have " \
           "do-not-merge/hold label.)" in out
    assert "    - Should not have do-not-merge/hold label — /hold cancel" in out
    sha = fake.head_sha(REPO, ready)
    assert f"  merge(ref={REPO}!{ready}, sha='{sha}', method=merge)" in out
    assert f"set_status(repo='{REPO}', sha='{sha}', status=merge: success 'In merge pool.')" in out
    assert writes_since(fake, start) == []
    assert fake.state(REPO, ready) == "open"


ERRORS = [
    ("unknown PR", ["--number", "404", "--user", COLLAB, "/lgtm"], None, "not found"),
    ("no credentials", ["--number", "1", "--user", COLLAB, "/lgtm"], {}, "no credentials for"),
    ("merge off", ["merge"], None, "merge automation is off in this config"),
    ("comment without a number", ["--user", COLLAB, "/lgtm"], None, "a comment needs --number and --user"),
]


@pytest.mark.parametrize("args,env,message", [c[1:] for c in ERRORS], ids=[c[0] for c in ERRORS])
def test_errors_are_one_line_and_exit_2(fake: FakeForge, tmp_path: Path, args: list[str],
                                         env: dict[str, str] | None, message: str) -> None:
    done = simulate(fake, tmp_path, *args, env=env)
    assert done.returncode == 2
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and message in lines[0], done.stderr
    assert "Traceback" not in done.stderr


ALIASES = """
aliases:
  - command: deploy
    format: "{{env}}"
    action: {workflow: deploy.yml, inputs: {environment: "{{env}}"}, pipeline: true, variables: {ENV: "{{env}}"}}
    ack: "Deploying to {{env}}"
  - command: notify-ops
    format: "{{env}}"
    action: {url_env: SIM_OPS_URL, secret_env: SIM_OPS_SECRET}
"""


def test_aliases_are_planned_not_started(fake: FakeForge, tmp_path: Path) -> None:
    """An alias's workflow/pipeline is a recorded write; its HTTP call is recorded, never sent."""
    number = open_pull(fake)
    start = len(fake.requests)
    env = {**forge_env(fake), "SIM_OPS_URL": "http://127.0.0.1:9/never", "SIM_OPS_SECRET": "s"}
    done = simulate(fake, tmp_path, "--number", str(number), "--user", COLLAB, "/deploy staging\n/notify-ops prod",
                    config=ALIASES, env=env)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert ("dispatch_workflow(repo=" if fake.name == "github" else "start_pipeline(repo=") in out
    assert "Deploying to staging" in out
    assert "call the HTTP endpoint of /notify-ops with {'env': 'prod'}" in out
    assert writes_since(fake, start) == []

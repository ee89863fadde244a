"""Signed job specs: how a job from a repository's ``.prowlet.yaml`` reaches a shared worker.

An operator's job travels through the queue by name (the worker runs it from its own config).  A
job from a repository's file is not in any process's config, so its spec travels in the queue
entry, with an HMAC-SHA256 (``PROWLET_JOB_SIGNING_KEY``, shared by serve and every worker) over
the canonical encoding of the spec, the job id and the change it runs against: an entry edited in
Redis, or copied to another job or change, does not verify and is refused.  The spec is what
decides what runs (command, executor, image, network, secrets, limits, timeout, clone); its
triggering filters were applied by serve and are not sent.  ``repos``, ``context``,
``skip_report`` and ``retry_on_worker_loss`` are the operator's: a decoded spec gets the defaults,
as the layer gives it (bot.inrepo.layer).  Pure: no I/O.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import asdict
from typing import Any

import orjson

from bot.ci.jobs import JobSpec
from bot.ci.limits import Limits

DOMAIN = b"prowlet queued job spec v1\n"  # so a signature made here means nothing elsewhere


class SpecError(ValueError):
    """A queued spec that is not one (wrong shape or types)."""


def encode_spec(spec: JobSpec) -> dict[str, Any]:
    """What decides how a job runs, as plain JSON values."""
    return {"name": spec.name, "run": spec.run, "clone": spec.clone, "timeout": spec.timeout,
            "executor": spec.executor, "image": spec.image, "network": spec.network,
            "secrets": list(spec.secrets), "limits": asdict(spec.limits)}


def decode_spec(data: Any, repo: str) -> JobSpec:
    """The spec back, for ``repo`` only; raises SpecError on anything not of the right type."""
    try:
        limits = data["limits"]
        if not isinstance(limits, dict) or set(limits) != set(asdict(Limits())):
            raise SpecError("limits")
        for value in limits.values():
            if value is not None and (not isinstance(value, int | float) or isinstance(value, bool) or value < 0):
                raise SpecError("limits")
        checks = (("name", str), ("run", str), ("clone", bool), ("image", str), ("network", bool))
        for key, kind in checks:
            if not isinstance(data[key], kind):
                raise SpecError(key)
        if data["executor"] is not None and not isinstance(data["executor"], str):
            raise SpecError("executor")
        if not isinstance(data["timeout"], int | float) or isinstance(data["timeout"], bool):
            raise SpecError("timeout")
        if not isinstance(data["secrets"], list) or not all(isinstance(s, str) for s in data["secrets"]):
            raise SpecError("secrets")
        return JobSpec(name=data["name"], run=data["run"], clone=data["clone"], always_run=False,
                       repos=(repo,), timeout=float(data["timeout"]), executor=data["executor"], image=data["image"],
                       network=data["network"], secrets=tuple(data["secrets"]),
                       limits=Limits(memory=limits["memory"], processes=limits["processes"],
                                     cpu_seconds=limits["cpu_seconds"], workspace_bytes=limits["workspace_bytes"]))
    except SpecError:
        raise
    except (KeyError, TypeError, ValueError) as err:  # JobSpec's own checks too
        raise SpecError(type(err).__name__) from None


def canonical(job_id: str, change: dict[str, Any], spec: dict[str, Any]) -> bytes:
    """One byte string per (job id, change, spec): sorted keys, no whitespace."""
    return DOMAIN + orjson.dumps({"id": job_id, "change": change, "spec": spec}, option=orjson.OPT_SORT_KEYS)


class JobSigner:
    def __init__(self, key: str | bytes) -> None:
        self._key = key.encode() if isinstance(key, str) else key

    def sign(self, job_id: str, change: dict[str, Any], spec: dict[str, Any]) -> str:
        return hmac.new(self._key, canonical(job_id, change, spec), hashlib.sha256).hexdigest()

    def verifies(self, job_id: str, change: dict[str, Any], spec: dict[str, Any], signature: Any) -> bool:
        """In constant time; a missing or non-text signature never verifies."""
        if not isinstance(signature, str):
            return False
        try:
            expected = self.sign(job_id, change, spec)
        except TypeError:  # orjson cannot encode it (an integer past 64 bits): not what serve signed
            return False
        return hmac.compare_digest(expected.encode(), signature.encode())

    def __repr__(self) -> str:
        return "JobSigner(***)"  # never the key


__all__ = ["JobSigner", "SpecError", "canonical", "decode_spec", "encode_spec"]

"""The deployment files say what the README says: Redis shared by two replicas behind a proxy."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent


def test_compose_runs_two_replicas_on_one_durable_redis_behind_the_proxy() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    replicas = [name for name, svc in services.items() if svc.get("image") == "prowlet:local" and "command" not in svc]
    assert replicas == ["prowlet-1", "prowlet-2"]
    for name in replicas:
        env = services[name]["environment"]
        assert env["PROWLET_REDIS_URL"] == "redis://redis:6379/0"
        assert services[name]["depends_on"]["redis"]["condition"] == "service_healthy"
    # Each replica keeps its own data directory (job workspaces and logs).
    assert len({tuple(services[n]["volumes"]) for n in replicas}) == len(replicas)
    redis = services["redis"]["command"]
    assert redis[redis.index("--appendfsync") + 1] == "always"
    nginx = (ROOT / "deploy" / "nginx.conf").read_text()
    upstream = re.search(r"upstream prowlet \{(.*?)\}", nginx, re.S).group(1)
    assert re.findall(r"server (\S+):8080", upstream) == replicas
    assert "non_idempotent" in nginx  # a webhook a dying replica refused is tried on the other
    assert services["proxy"]["ports"] == ["8080:8080"]


def test_compose_runs_a_job_worker_that_holds_no_forge_credentials() -> None:
    services = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    worker = services["worker"]
    assert worker["image"] == "prowlet:local" and worker["command"] == ["prowlet", "worker"]
    assert worker["environment"]["PROWLET_REDIS_URL"] == services["prowlet-1"]["environment"]["PROWLET_REDIS_URL"]
    assert not [k for k in worker["environment"] if k.startswith(("GITHUB_", "GITLAB_"))]
    assert "ports" not in worker and worker["healthcheck"] == {"disable": True}

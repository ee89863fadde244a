"""The deployment files say what the README says: Redis shared by two replicas behind a proxy."""

from __future__ import annotations

import configparser
import json
import re
import tomllib
from pathlib import Path

import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

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


# ---- container image ---------------------------------------------------------------------------

def _dockerfile() -> list[tuple[str, str]]:
    """(instruction, arguments) with continuation lines joined and comments dropped."""
    text = re.sub(r"\\\n", " ", (ROOT / "Dockerfile").read_text())
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith("#")]
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in lines]


def test_dockerfile_pins_the_base_installs_the_lock_and_runs_in_exec_form() -> None:
    instructions = _dockerfile()
    base = [args for op, args in instructions if op == "FROM"]
    assert len(base) == 1 and re.fullmatch(r"python:3\.11[\w.-]*-slim[\w.-]*@sha256:[0-9a-f]{64}", base[0])
    runs = " ".join(args for op, args in instructions if op == "RUN")
    assert "pip install -r requirements.lock" in runs and "pip install --no-deps ." in runs
    assert ("COPY", "requirements.lock ./") in instructions
    healthcheck = [args for op, args in instructions if op == "HEALTHCHECK"]
    assert len(healthcheck) == 1 and "/healthz" in healthcheck[0]
    assert json.loads(healthcheck[0].split(" CMD ", 1)[1])[0] == "python"  # exec form: no shell needed
    for op in ("ENTRYPOINT", "CMD"):
        (args,) = [a for o, a in instructions if o == op]
        assert isinstance(json.loads(args), list), f"{op} is not in exec form"
    assert [args for op, args in instructions if op == "USER"] == ["prowlet"]


def _lock() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, version = line.partition("==")
            assert version, f"not pinned: {line}"
            pins[canonicalize_name(name)] = version
    return pins


def test_the_lock_pins_every_dependency_within_its_range() -> None:
    pins = _lock()
    for spec in tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]:
        requirement = Requirement(spec)
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{name} is not in requirements.lock"
        assert requirement.specifier.contains(pins[name]), f"{name}=={pins[name]} is outside {requirement.specifier}"
        for extra in requirement.extras:  # redis[hiredis]
            assert canonicalize_name(extra) in pins


# ---- Kubernetes ----------------------------------------------------------------------------------
# kubeconform is not installable here: this is a small structural check of what the manifests must
# have (the required fields of each kind, and that the pieces refer to each other correctly).

KUBE = ROOT / "deploy" / "kubernetes"
REQUIRED = {"apiVersion", "kind", "metadata"}


def _manifests() -> dict[str, dict]:
    found = {}
    for path in sorted(KUBE.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            required = REQUIRED - {"metadata"} if doc.get("kind") == "Kustomization" else REQUIRED
            assert required <= doc.keys(), f"{path.name}: missing {required - doc.keys()}"
            if doc["kind"] != "Kustomization":
                assert doc["metadata"].get("name"), f"{path.name}: no metadata.name"
            found[doc["kind"]] = doc
    return found


def test_kubernetes_deployment_runs_two_probed_replicas_on_an_external_redis() -> None:
    manifests = _manifests()
    deployment, service, secret = manifests["Deployment"], manifests["Service"], manifests["Secret"]
    assert deployment["apiVersion"] == "apps/v1"
    spec = deployment["spec"]
    assert spec["replicas"] == 2
    pod_labels = spec["template"]["metadata"]["labels"]
    assert spec["selector"]["matchLabels"].items() <= pod_labels.items()
    (container,) = spec["template"]["spec"]["containers"]
    assert container["image"] and container["args"][:2] == ["prowlet", "serve"]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports == {"http": 8080}
    probes = {kind: container[kind]["httpGet"] for kind in ("livenessProbe", "readinessProbe")}
    assert probes == {"livenessProbe": {"path": "/healthz", "port": "http"},
                      "readinessProbe": {"path": "/readyz", "port": "http"}}
    env = {e["name"]: e for e in container["env"]}
    refs = {name: e["valueFrom"]["secretKeyRef"] for name, e in env.items() if "valueFrom" in e}
    # Every secret comes from the Secret, never a literal; every key it names exists in the example.
    assert {"PROWLET_REDIS_URL", "GITHUB_TOKEN", "GITHUB_WEBHOOK_SECRET", "GITLAB_TOKEN", "GITLAB_WEBHOOK_SECRET"} <= refs.keys()
    assert {r["name"] for r in refs.values()} == {secret["metadata"]["name"]}
    assert {r["key"] for r in refs.values()} <= secret["stringData"].keys()
    assert secret["stringData"]["redis-url"].startswith("redis://")
    assert not [name for name, e in env.items() if "value" in e and name.startswith(("GITHUB_", "GITLAB_"))]
    mounts = {m["name"] for m in container["volumeMounts"]}
    assert mounts == {v["name"] for v in spec["template"]["spec"]["volumes"]}
    config_map = spec["template"]["spec"]["volumes"][1]["configMap"]["name"]
    assert config_map == manifests["ConfigMap"]["metadata"]["name"]
    assert service["spec"]["selector"].items() <= pod_labels.items()
    assert [p["targetPort"] for p in service["spec"]["ports"]] == ["http"]
    listed = manifests["Kustomization"]["resources"]
    assert all((KUBE / name).is_file() for name in listed) and "secret.example.yaml" not in listed


# ---- GitHub App manifest -------------------------------------------------------------------------

# README's "Pointing the forges at prowlet" names the events as GitHub's settings page does.
EVENT_NAMES = {
    "Issue comments": "issue_comment", "Issues": "issues", "Pull requests": "pull_request",
    "Pull request reviews": "pull_request_review", "Pull request review comments": "pull_request_review_comment",
    "Check suites": "check_suite", "Check runs": "check_run", "Workflow runs": "workflow_run", "Statuses": "status",
}
# What the GitHub adapter calls need: labels, comments, assignees (issues); review requests, titles,
# state (pull_requests); merging and OWNERS files (contents); commit statuses; check runs read;
# re-running workflows (actions); team membership for /cc of teams (members); metadata always.
PERMISSIONS = {"metadata": "read", "issues": "write", "pull_requests": "write", "contents": "write",
               "statuses": "write", "checks": "read", "actions": "write", "members": "read"}


def test_github_app_manifest_asks_for_exactly_what_prowlet_uses() -> None:
    manifest = json.loads((ROOT / "deploy" / "github-app-manifest.json").read_text())
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Pointing the forges at prowlet", 1)[1].split("**GitLab**", 1)[0]
    events_line = next(line for line in section.splitlines() if "Events:" in line)
    events_text = events_line + section.split(events_line, 1)[1].split("- For a GitHub App", 1)[0]
    documented = {EVENT_NAMES[name] for name in re.findall(r"\*([A-Z][a-z ]+)\*", events_text)}
    assert sorted(manifest["default_events"]) == sorted(documented)
    assert manifest["default_permissions"] == PERMISSIONS
    assert manifest["hook_attributes"]["url"].endswith("/hook/github")
    assert manifest["public"] is False


# ---- systemd ------------------------------------------------------------------------------------

def test_systemd_unit_runs_serve_unprivileged_with_secrets_from_a_file() -> None:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # systemd keys are case-sensitive
    parser.read_string((ROOT / "deploy" / "prowlet.service").read_text())
    service = parser["Service"]
    assert service["ExecStart"].split()[1:2] == ["serve"]
    assert service["User"] not in ("", "root")
    assert service["EnvironmentFile"].startswith("/etc/")
    assert "GITHUB_TOKEN" not in service.get("Environment", "")
    assert "2" in service["RestartPreventExitStatus"].split()  # a configuration error: restarting will not help
    assert parser["Install"]["WantedBy"] == "multi-user.target"


# ---- README -------------------------------------------------------------------------------------

def _env_reads() -> set[str]:
    """PROWLET_* variables the code reads (not those it sets for built-in jobs: bot/ci/runner.py)."""
    runner = (ROOT / "bot" / "ci" / "runner.py").read_text()
    job_env = set(re.findall(r'"(PROWLET_[A-Z_]+)"', runner))
    job_env |= set(re.findall(r'f"(PROWLET_[A-Z_]*[A-Z])_\{', runner))  # prefixes: PROWLET_PARAM_<NAME>
    found = set()
    for path in (ROOT / "bot").rglob("*.py"):
        found |= set(re.findall(r"PROWLET_[A-Z][A-Z_]*[A-Z]", path.read_text()))
    return found - job_env


def test_readme_lists_every_environment_variable_git_and_the_deployment_files() -> None:
    readme = (ROOT / "README.md").read_text()
    configuration = readme.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    table = "\n".join(line for line in configuration.splitlines() if line.startswith("| `"))
    missing = sorted(name for name in _env_reads() if f"`{name}`" not in table)
    assert missing == []
    assert "git" in readme.split("## Configuration", 1)[0]  # needed for built-in jobs
    deployment = readme.split("## Deployment", 1)[1].split("\n## ", 1)[0]
    for path in ("Dockerfile", "requirements.lock", "deploy/kubernetes/", "deploy/github-app-manifest.json",
                 "deploy/prowlet.service", "docker-compose.yml"):
        assert f"({path})" in deployment, f"README's Deployment section does not link {path}"

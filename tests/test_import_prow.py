"""``prowlet import-prow`` on three hand-written Prow configs (tests/fixtures/prow): what maps where,
what is listed as not carried over, and that ``prowlet check-config`` accepts every result."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.cli import main
from bot.import_prow import Imported, _duration, import_prow
from plugins import REGISTRY

FIXTURES = Path(__file__).parent / "fixtures" / "prow"
PROJECTS = ["kubernetes", "knative", "tektoncd"]


def _load(project: str) -> Imported:
    plugins = yaml.safe_load((FIXTURES / project / "plugins.yaml").read_text())
    core = yaml.safe_load((FIXTURES / project / "config.yaml").read_text())
    return import_prow(plugins, core, [p.name for p in REGISTRY])


def _rule(imported: Imported, glob: str) -> dict[str, Any]:
    return next(r for r in imported.config["repos"] if r["match"] == [glob])


def _job(imported: Imported, name: str) -> dict[str, Any]:
    return next(j for j in imported.config["jobs"] if j["name"] == name)


def _noted(imported: Imported, where: str, why: str = "") -> bool:
    return any(where in n.where and why in n.why for n in imported.notes)


@pytest.mark.parametrize("project", PROJECTS)
def test_check_config_accepts_the_output(project: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "prowlet.yaml"
    args = [str(FIXTURES / project / "plugins.yaml"), str(FIXTURES / project / "config.yaml")]
    assert main(["import-prow", *args, "-o", str(out)]) == 0
    listed = capsys.readouterr().err
    assert "setting(s) not carried over:" in listed
    assert main(["check-config", str(out)]) == 0
    assert "OK (0 plugins enabled by default" in capsys.readouterr().out  # as Prow: only what is listed
    text = out.read_text()
    assert text.startswith("# Imported from Prow") and "# Not carried over:" in text


@pytest.mark.parametrize("project", PROJECTS)
def test_every_setting_is_carried_over_or_listed(project: str) -> None:
    imported = _load(project)
    handled_plugins = {"plugins", "approve", "lgtm", "triggers", "blunderbuss", "label", "size", "retitle", "help",
                       "welcome", "override", "require_matching_label"}
    for key in yaml.safe_load((FIXTURES / project / "plugins.yaml").read_text()):
        assert key in handled_plugins or _noted(imported, f"plugins.yaml: {key}"), key
    for key in yaml.safe_load((FIXTURES / project / "config.yaml").read_text()):
        assert key in ("presubmits", "tide") or _noted(imported, f"config.yaml: {key}"), key


Check = Callable[[Imported], bool]
CASES: list[tuple[str, str, Check]] = [
    ("kubernetes", "an-orgs-plugins-apply-to-its-repositories",
     lambda i: "approve" in _rule(i, "k8s-like/*")["enabled"] and i.config["plugins"]["enabled"] == []),
    ("kubernetes", "a-repository-adds-to-its-orgs-plugins",
     lambda i: {"approve", "require-matching-label"} <= set(_rule(i, "k8s-like/core")["enabled"])),
    ("kubernetes", "excluded-repos-get-none-of-the-orgs",
     lambda i: _rule(i, "k8s-like/sandbox")["enabled"] == []),
    ("kubernetes", "plugins-prowlet-lacks-are-listed",
     lambda i: _noted(i, "plugins.k8s-like", "plugin cat") and _noted(i, "plugins.k8s-like", "plugin yuks")),
    ("kubernetes", "release-note-and-milestone-are-enabled",
     lambda i: {"release-note", "milestone"} <= set(_rule(i, "k8s-like/core")["enabled"])),
    ("kubernetes", "issue-required-for-one-repository",
     lambda i: _rule(i, "k8s-like/core")["options"]["approve"] == {"issue_required": True}),
    ("kubernetes", "waiting-for-tide-waits-for-the-merge-status",
     lambda i: i.config["plugins"]["options"]["blunderbuss"]["wait_for_status"]["context"] == "merge"),
    ("kubernetes", "restricted-labels-per-repository",
     lambda i: _rule(i, "k8s-like/core")["options"]["label"]["restricted_labels"][0]["assign_on"]
     == [{"label": "needs-priority"}]),
    ("kubernetes", "a-presubmit-becomes-a-container-job",
     lambda i: _job(i, "pull-core-unit") | {} == {"name": "pull-core-unit", "run": "make test", "executor": "container",
                                                  "image": "golang:1.22", "repos": ["k8s-like/core"],
                                                  "always_run": True, "timeout": "1h"}),
    ("kubernetes", "context-branches-and-trigger-are-kept",
     lambda i: (_job(i, "pull-core-e2e")["context"], _job(i, "pull-core-e2e")["branches"])
     == ("e2e-kind", ["main", "release-.*"]) and "trigger" in _job(i, "pull-core-e2e")),
    ("kubernetes", "pod-settings-are-listed",
     lambda i: _noted(i, "presubmits.k8s-like/core[2].spec.containers[0].env")),
    ("kubernetes", "tide-becomes-merge",
     lambda i: i.config["merge"] | {} == {"require_labels": ["lgtm", "approved"],
                                          "forbid_labels": ["do-not-merge/hold", "do-not-merge/work-in-progress",
                                                            "needs-rebase"],
                                          "repos": ["k8s-like/*", "k8s-like/website"], "method": "squash",
                                          "sync_interval": 120, "blocker_label": "tide/merge-blocker"}),
    ("kubernetes", "a-second-merge-method-is-listed", lambda i: _noted(i, "tide.merge_method", "chose 'squash'")),
    ("knative", "lgtm-options-per-org",
     lambda i: _rule(i, "kn-serving/*")["options"]["lgtm"] == {
         "review_acts_as_lgtm": True, "store_tree_hash": True, "trusted_team_for_sticky_lgtm": "serving-maintainers"}),
    ("knative", "one-approve-entry-for-two-orgs",
     lambda i: next(r for r in i.config["repos"] if r["match"] == ["kn-serving/*", "kn-extensions/*"])
     ["options"]["approve"] == {"require_self_approval": True, "review_acts_as_approve": True,
                                "changes_requested_cancels": True}),
    ("knative", "trusted-apps-are-their-bot-accounts",
     lambda i: next(r for r in i.config["repos"] if r["match"] == ["kn-serving/*", "kn-extensions/*"])
     ["options"]["trigger"]["trusted_users"] == ["dependabot[bot]", "renovate[bot]"]),
    ("knative", "a-job-shared-by-two-repositories-is-one-job",
     lambda i: _job(i, "unit-tests")["repos"] == ["kn-serving/serving", "kn-serving/client"]),
    ("knative", "a-different-job-of-the-same-name-is-renamed",
     lambda i: _job(i, "unit-tests-kn-extensions-eventing-kafka")["skip_if_only_changed"] == "^docs/"),
    ("knative", "only-the-first-container-runs",
     lambda i: _noted(i, "presubmits.kn-serving/serving[2].spec.containers", "only the first container")),
    ("knative", "override-teams-are-listed", lambda i: _noted(i, "override.allowed_github_teams")),
    ("knative", "sync-period-in-seconds", lambda i: i.config["merge"]["sync_interval"] == 30),
    ("tektoncd", "the-old-list-form-of-plugins",
     lambda i: "retitle" in _rule(i, "tkn-like/website")["enabled"] and "wip" in _rule(i, "tkn-like/*")["enabled"]),
    ("tektoncd", "restricted-labels-for-every-repository",
     lambda i: i.config["plugins"]["options"]["label"]["restricted_labels"][0]["label"] == "approved-for-release"),
    ("tektoncd", "restricted-labels-keep-remove-on-new-commits",
     lambda i: i.config["plugins"]["options"]["label"]["restricted_labels"][0]["remove_on_new_commits"] is True),
    ("tektoncd", "a-job-without-a-command-is-left-out-and-listed",
     lambda i: "pull-pipeline-go-coverage" not in {j["name"] for j in i.config["jobs"]}
     and _noted(i, "presubmits.tkn-like/pipeline[2]", "relies on the image's entrypoint")),
    ("tektoncd", "a-custom-trigger-is-kept",
     lambda i: _job(i, "pull-pipeline-build-tests")["trigger"].startswith("(?m)^/test (all|")),
    ("tektoncd", "a-rebase-merge-method", lambda i: i.config["merge"]["method"] == "rebase"),
    ("tektoncd", "postsubmits-and-periodics-are-listed",
     lambda i: _noted(i, "config.yaml: postsubmits") and _noted(i, "config.yaml: periodics")),
]


@pytest.mark.parametrize(("project", "check"), [(p, c) for p, _, c in CASES], ids=[n for _, n, _ in CASES])
def test_mapping(project: str, check: Check) -> None:
    assert check(_load(project))


@pytest.mark.parametrize(
    ("text", "expected"),
    [("2h0m0s", "2h"), ("1h30m", "1h30m"), ("90m", "90m"), ("45s", "45s"), ("0s", None), ("soon", None), ("", None)],
    ids=["go-style", "hours-and-minutes", "minutes", "seconds", "zero", "not-a-duration", "empty"],
)
def test_duration(text: str, expected: str | None) -> None:
    assert _duration(text) == expected


def test_unreadable_input_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "plugins.yaml"
    bad.write_text("plugins: [unclosed\n")
    assert main(["import-prow", str(bad)]) == 1
    assert "not valid YAML" in capsys.readouterr().err
    assert main(["import-prow", str(tmp_path / "missing.yaml")]) == 1
    assert "cannot read" in capsys.readouterr().err

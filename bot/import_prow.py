"""``prowlet import-prow``: a Prow ``plugins.yaml`` (and its ``config.yaml``) as a prowlet config.

Pure: loaded YAML in, a config mapping and the list of what could not be carried over out; the CLI
reads and writes the files.  Every setting left behind becomes a ``Note`` naming where it was and
why, so nothing is dropped silently.

What maps: plugins per org / repo (``repos[]`` rules), plugin options (global or per repo, as Prow
has them), presubmits (→ ``jobs:``, run in the container executor with their image), and Tide
(→ ``merge:``).
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

import yaml

# Prow plugins with a reason why there is nothing to enable in prowlet.
_PLUGIN_NOTES = {
    "needs-rebase": "prowlet's merge automation adds and removes needs-rebase itself (see merge:)",
    "cherrypick": "not carried over yet: prowlet has no cherry-pick plugin",
    "cherry-pick-unapproved": "not carried over yet: prowlet has no cherry-pick plugin",
    "config-updater": "prowlet reads one config file; there are no Kubernetes ConfigMaps to update",
}
_FUN = {"cat", "dog", "pony", "yuks", "shrug", "goose", "heart", "bark", "welcome-bot"}
_MERGE_METHODS = {"merge", "squash", "rebase"}
_JOB_NAME = re.compile(r"[^A-Za-z0-9._-]+")
_GO_DURATION = re.compile(r"(?:(\d+)h)?(?:(\d+)m(?!s))?(?:(\d+)s)?")


@dataclass(frozen=True)
class Note:
    where: str  # "plugins.yaml: slack" or "config.yaml: presubmits.acme/widgets[2].spec"
    why: str

    def __str__(self) -> str:
        return f"{self.where}: {self.why}"


@dataclass
class Imported:
    config: dict[str, Any]
    notes: list[Note] = field(default_factory=list)


def _globs(names: Any) -> list[str]:
    """Prow's "org" / "org/repo" keys as prowlet globs."""
    out = []
    for name in names or []:
        name = str(name).strip()
        if name == "*":
            out.append("*")
        elif name:
            out.append(name if "/" in name else f"{name}/*")
    return out


class _Builder:
    def __init__(self, known_plugins: Collection[str]) -> None:
        self.known = set(known_plugins)
        self.notes: list[Note] = []
        self.global_options: dict[str, dict[str, Any]] = {}
        self.rules: dict[tuple[str, ...], dict[str, Any]] = {}  # by match globs, in first-seen order

    def note(self, where: str, why: str) -> None:
        self.notes.append(Note(where, why))

    def rule(self, globs: list[str]) -> dict[str, Any]:
        return self.rules.setdefault(tuple(globs), {"match": list(globs)})

    def options_for(self, repos: Any, plugin: str) -> dict[str, Any]:
        """Where a plugin's options go: ``plugins.options`` for every repository ("*" or none named),
        else a rule for the named orgs / repos."""
        globs = _globs(repos)
        if not globs or globs == ["*"]:
            return self.global_options.setdefault(plugin, {})
        return self.rule(globs).setdefault("options", {}).setdefault(plugin, {})

    def plugin_names(self, where: str, names: Any) -> list[str]:
        found = []
        for name in names or []:
            name = str(name)
            if name in self.known:
                found.append(name)
            elif name in _PLUGIN_NOTES:
                self.note(where, f"plugin {name}: {_PLUGIN_NOTES[name]}")
            elif name in _FUN:
                self.note(where, f"plugin {name}: a fun plugin prowlet does not have")
            else:
                self.note(where, f"plugin {name}: no such plugin in prowlet")
        return found

    def config(self) -> dict[str, Any]:
        # Org rules before repository rules: a later rule refines an earlier one, and Prow's most
        # specific entry (the repository's) wins.
        rules = sorted(self.rules.values(), key=lambda r: (not any(g.endswith("/*") for g in r["match"])))
        return {"plugins": {"enabled": [], "options": self.global_options}, "repos": rules}


# ---- plugins.yaml ------------------------------------------------------------------------------


def _enabled_plugins(b: _Builder, plugins: Any) -> None:
    """Prow: an org's plugins apply to its repositories (except excluded_repos); a repository's
    list adds to its org's."""
    if not isinstance(plugins, dict):
        return
    orgs: dict[str, tuple[list[str], list[str]]] = {}
    repos: dict[str, list[str]] = {}
    for key, value in plugins.items():
        names, excluded = (value.get("plugins"), value.get("excluded_repos")) if isinstance(value, dict) else (value, [])
        mapped = b.plugin_names(f"plugins.yaml: plugins.{key}", names)
        if "/" in str(key):
            repos[str(key)] = mapped
        else:
            orgs[str(key)] = (mapped, [str(r) for r in excluded or []])
    for org, (names, excluded) in orgs.items():
        b.rule([f"{org}/*"])["enabled"] = names
        for repo in excluded:
            full = repo if "/" in repo else f"{org}/{repo}"
            b.rule([full])["enabled"] = list(repos.get(full, []))
    for repo, names in repos.items():
        org = repo.split("/", 1)[0]
        inherited, excluded = orgs.get(org, ([], []))
        if repo in excluded or repo.split("/", 1)[1] in excluded:
            inherited = []
        b.rule([repo])["enabled"] = list(dict.fromkeys([*inherited, *names]))


def _per_repo(b: _Builder, data: Any, section: str, plugin: str, fields: dict[str, str],
              notes: dict[str, str]) -> None:
    """A Prow section that is a list of {repos: [...], option: value} entries."""
    for i, entry in enumerate(data.get(section) or []):
        if not isinstance(entry, dict):
            continue
        target = b.options_for(entry.get("repos"), plugin)
        for key, value in entry.items():
            if key == "repos":
                continue
            if key in fields:
                target[fields[key]] = value
            else:
                b.note(f"plugins.yaml: {section}[{i}].{key}", notes.get(key, "no such option in prowlet"))


def _approve(b: _Builder, data: Any) -> None:
    fields = {"issue_required": "issue_required", "require_self_approval": "require_self_approval",
              "lgtm_acts_as_approve": "lgtm_acts_as_approve"}
    notes = {"commandHelpLink": "prowlet's status comment explains the commands itself",
             "pr_process_link": "prowlet's status comment links no process page"}
    for i, entry in enumerate(data.get("approve") or []):
        if not isinstance(entry, dict):
            continue
        target = b.options_for(entry.get("repos"), "approve")
        for key, value in entry.items():
            if key == "repos":
                continue
            if key in fields:
                target[fields[key]] = value
            elif key == "ignore_review_state":  # reviews count neither way
                target["review_acts_as_approve"] = target["changes_requested_cancels"] = not value
            else:
                b.note(f"plugins.yaml: approve[{i}].{key}", notes.get(key, "no such option in prowlet"))


def _lgtm(b: _Builder, data: Any) -> None:
    _per_repo(b, data, "lgtm", "lgtm",
              {k: k for k in ("review_acts_as_lgtm", "store_tree_hash", "trusted_team_for_sticky_lgtm")}, {})


def _triggers(b: _Builder, data: Any) -> None:
    for i, entry in enumerate(data.get("triggers") or []):
        if not isinstance(entry, dict):
            continue
        target = b.options_for(entry.get("repos"), "trigger")
        for key, value in entry.items():
            where = f"plugins.yaml: triggers[{i}].{key}"
            if key == "repos":
                continue
            if key == "trusted_org":
                target["trusted_orgs"] = [value]
            elif key == "trusted_apps":
                target["trusted_users"] = [f"{app}[bot]" for app in value or []]  # an App's account
            elif key in ("only_org_members", "ignore_ok_to_test"):
                target[key] = value
            elif key == "join_org_url":
                b.note(where, "prowlet's greeting for untrusted authors links no join page")
            elif key == "elide_skipped_contexts":
                b.note(where, "prowlet posts no status for a job that does not run, so there is nothing to elide")
            else:
                b.note(where, "no such option in prowlet")


def _blunderbuss(b: _Builder, data: Any) -> None:
    section = data.get("blunderbuss")
    if not isinstance(section, dict):
        return
    target = b.options_for(None, "blunderbuss")
    for key, value in section.items():
        where = f"plugins.yaml: blunderbuss.{key}"
        if key in ("request_count", "max_request_count", "exclude_approvers", "ignore_authors"):
            target[key] = value
        elif key == "wait_for_status" and isinstance(value, dict):
            context = value.get("context") or "tide"
            if context == "tide":
                context = "merge"  # prowlet's merge status, Tide's counterpart
            target[key] = {"context": context, "state": value.get("state") or "pending",
                           "description": value.get("description")
                           or r"Not mergeable\. (PullRequest is missing sufficient approving GitHub review\(s\)|Needs (lgtm|approved) label)"}
        elif key == "ignore_drafts":
            if not value:
                b.note(where, "prowlet never requests reviews on drafts (it does when they are marked ready)")
        elif key == "use_status_availability":
            b.note(where, "prowlet does not read GitHub's busy status")
        else:
            b.note(where, "no such option in prowlet")


def _label(b: _Builder, data: Any) -> None:
    section = data.get("label")
    if not isinstance(section, dict):
        return
    if section.get("additional_labels"):
        b.options_for(None, "label")["additional_labels"] = list(section["additional_labels"])
    for scope, entries in (section.get("restricted_labels") or {}).items():
        converted = []
        for i, entry in enumerate(entries or []):
            item = {"label": entry.get("label", ""), "allowed_users": list(entry.get("allowed_users") or []),
                    "allowed_teams": list(entry.get("allowed_teams") or []),
                    "assign_on": [{"label": a.get("label", "")} for a in entry.get("assign_on") or []]}
            for key in ("allow_approvers_from_owners", "remove_on_new_commits"):
                if entry.get(key):
                    item[key] = True
            converted.append(item)
        b.options_for([scope], "label").setdefault("restricted_labels", []).extend(converted)
    for key in section:
        if key not in ("additional_labels", "restricted_labels"):
            b.note(f"plugins.yaml: label.{key}", "no such option in prowlet")


def _simple(b: _Builder, data: Any) -> None:
    """Sections that map key for key onto one plugin's options for every repository."""
    for section, plugin, keys in (("size", "size", {k: k for k in ("s", "m", "l", "xl", "xxl")}),
                                  ("retitle", "retitle", {"allow_closed_issues": "allow_closed_issues"}),
                                  ("help", "help", {"help_guidelines_url": "guidelines_url",
                                                    "help_guidelines_summary": "guidelines_summary"})):
        values = data.get(section)
        if not isinstance(values, dict):
            continue
        for key, value in values.items():
            if key in keys:
                b.options_for(None, plugin)[keys[key]] = value
            else:
                b.note(f"plugins.yaml: {section}.{key}", "no such option in prowlet")


def _welcome(b: _Builder, data: Any) -> None:
    _per_repo(b, data, "welcome", "welcome",
              {"message_template": "message_template", "always_post": "always_post"}, {})


def _override(b: _Builder, data: Any) -> None:
    section = data.get("override")
    if not isinstance(section, dict):
        return
    for key in section:
        why = {"allow_top_level_owners": "prowlet lets repository administrators and override.allowed_users "
                                         "override; add the root OWNERS approvers to override.allowed_users",
               "allowed_github_teams": "teams are not carried over; list their people in override.allowed_users"}
        b.note(f"plugins.yaml: override.{key}", why.get(key, "no such option in prowlet"))


def _require_matching_label(b: _Builder, data: Any) -> None:
    for i, entry in enumerate(data.get("require_matching_label") or []):
        if not isinstance(entry, dict):
            continue
        org, repo = entry.get("org"), entry.get("repo")
        scope = f"{org}/{repo}" if org and repo else (org or "*")
        rule = {key: entry[key] for key in ("missing_label", "regexp", "prs", "issues", "branch", "missing_comment")
                if key in entry}
        b.options_for([scope], "require-matching-label").setdefault("rules", []).append(rule)
        if entry.get("grace_period"):
            b.note(f"plugins.yaml: require_matching_label[{i}].grace_period",
                   "prowlet acts on the event itself, so there is no grace period")


_HANDLED = {"plugins", "approve", "lgtm", "triggers", "blunderbuss", "label", "size", "retitle", "help",
            "welcome", "override", "require_matching_label"}
_SECTION_NOTES = {
    "external_plugins": "external plugins are separate services; prowlet has no plugin proxy",
    "owners": "prowlet reads OWNERS and OWNERS_ALIASES by those names, with no per-repo options",
    "config_updater": "prowlet reads one config file; there are no Kubernetes ConfigMaps to update",
    "slack": "prowlet posts nothing to Slack",
    "repo_milestone": "Prow names the maintainers team by id: set milestone.allowed_teams (slugs) by hand",
}


def _plugins_yaml(b: _Builder, data: Any) -> None:
    if not isinstance(data, dict):
        b.note("plugins.yaml", "not a mapping: nothing imported")
        return
    _enabled_plugins(b, data.get("plugins"))
    for step in (_approve, _lgtm, _triggers, _blunderbuss, _label, _simple, _welcome, _override,
                 _require_matching_label):
        step(b, data)
    for key in data:
        if key not in _HANDLED:
            b.note(f"plugins.yaml: {key}", _SECTION_NOTES.get(key, "the configuration of a plugin prowlet does not have"))


# ---- config.yaml: presubmits and Tide ----------------------------------------------------------


def _duration(text: Any) -> str | None:
    """A Go duration ("2h0m0s", "90m", "45s") as prowlet writes it ("2h", "90m", "45s")."""
    match = _GO_DURATION.fullmatch(str(text or ""))
    if not match or not any(match.groups()):
        return None
    parts = [f"{int(v)}{unit}" for v, unit in zip(match.groups(), "hms") if v and int(v)]
    return "".join(parts) or None


def _job_name(name: str) -> str:
    cleaned = _JOB_NAME.sub("-", name).strip("-._") or "job"
    return cleaned[:63]


_JOB_KEYS = {"always_run", "optional", "branches", "skip_branches", "context", "skip_report"}
_JOB_IGNORED = {
    "decorate": "prowlet always gives a job a fresh checkout of the change; there is no pod utility",
    "decoration_config": "only its timeout is carried over",
    "labels": "Kubernetes pod labels have no meaning for prowlet",
    "annotations": "Kubernetes annotations have no meaning for prowlet",
    "cluster": "prowlet runs jobs on its own machine",
    "agent": "prowlet runs jobs itself (the container executor); there is no Kubernetes or Jenkins agent",
    "rerun_command": "prowlet re-runs a job with `/test <name>` or `/retest`",
    "max_concurrency": "prowlet limits concurrency for all jobs at once (runner.max_concurrent)",
    "run_before_merge": "prowlet's merge automation re-runs jobs after another change merges into the same branch",
    "path_alias": "a job runs in its own workspace root",
    "extra_refs": "a job checks out the change only",
    "reporter_config": "prowlet reports a commit status, nothing else",
    "cron": "periodic jobs are not carried over",
}


def _presubmit(b: _Builder, repo: str, i: int, job: dict[str, Any]) -> dict[str, Any] | None:
    where = f"config.yaml: presubmits.{repo}[{i}]"
    name = str(job.get("name") or "")
    if not name:
        b.note(where, "a presubmit without a name")
        return None
    out: dict[str, Any] = {"name": _job_name(name)}
    if out["name"] != name:
        b.note(f"{where}.name", f"renamed {name!r} to {out['name']!r} (a job name is one word of at most 63 "
                                "letters, digits, '.', '_' or '-'; /test uses the new name)")
    containers = ((job.get("spec") or {}).get("containers")) or []
    if not containers:
        b.note(where, f"job {name}: no spec.containers to run, so it is not carried over")
        return None
    container = containers[0]
    command = [*(container.get("command") or []), *(container.get("args") or [])]
    if not command:
        b.note(where, f"job {name}: its container names no command (it relies on the image's entrypoint), "
                      "so it is not carried over")
        return None
    out.update(run=shlex.join(str(c) for c in command), executor="container", image=str(container.get("image") or ""),
               repos=[repo])
    if len(containers) > 1:
        b.note(f"{where}.spec.containers", f"job {name}: only the first container is run")
    for key in ("env", "volumeMounts", "resources", "securityContext"):
        if container.get(key):
            b.note(f"{where}.spec.containers[0].{key}", f"job {name}: not carried over (give the job `secrets:` "
                                                         "and runner limits instead)")
    for key in (job.get("spec") or {}):
        if key != "containers":
            b.note(f"{where}.spec.{key}", f"job {name}: a Kubernetes pod setting prowlet does not have")
    for key, value in job.items():
        if key in _JOB_KEYS:
            out[key] = value
        elif key in ("run_if_changed", "skip_if_only_changed", "trigger"):
            out[key] = str(value)
        elif key == "decoration_config" and isinstance(value, dict) and _duration(value.get("timeout")):
            out["timeout"] = _duration(value.get("timeout"))
            rest = [k for k in value if k != "timeout"]
            if rest:
                b.note(f"{where}.decoration_config", f"job {name}: only timeout is carried over, not {', '.join(rest)}")
        elif key in _JOB_IGNORED and key not in ("name", "spec"):
            b.note(f"{where}.{key}", f"job {name}: {_JOB_IGNORED[key]}")
        elif key not in ("name", "spec"):
            b.note(f"{where}.{key}", f"job {name}: no such job option in prowlet")
    return out


def _presubmits(b: _Builder, presubmits: Any) -> list[dict[str, Any]]:
    """Prow's presubmits per repository as jobs.  A name used in several repositories stays one job
    when the jobs are the same (its ``repos`` grows), else the later ones get the repository's name."""
    jobs: dict[str, dict[str, Any]] = {}
    for repo, entries in (presubmits or {}).items():
        for i, entry in enumerate(entries or []):
            job = _presubmit(b, str(repo), i, entry) if isinstance(entry, dict) else None
            if job is None:
                continue
            twin = jobs.get(job["name"].lower())
            if twin is not None and {k: v for k, v in twin.items() if k != "repos"} == \
                    {k: v for k, v in job.items() if k != "repos"}:
                twin["repos"].append(str(repo))
                continue
            if twin is not None:
                renamed = _job_name(f"{job['name']}-{str(repo).replace('/', '-')}")
                b.note(f"config.yaml: presubmits.{repo}[{i}].name",
                       f"job {job['name']} differs from the one of that name in {', '.join(twin['repos'])}: "
                       f"renamed {renamed!r}")
                job["name"] = renamed
            jobs[job["name"].lower()] = job
    return list(jobs.values())


def _tide(b: _Builder, tide: Any) -> dict[str, Any] | None:
    if not isinstance(tide, dict):
        return None
    merge: dict[str, Any] = {}
    queries = tide.get("queries") or []
    repos: list[str] = []
    for i, query in enumerate(queries):
        where = f"config.yaml: tide.queries[{i}]"
        repos += _globs(query.get("orgs")) + _globs(query.get("repos"))
        if i == 0:
            merge["require_labels"] = list(query.get("labels") or [])
            merge["forbid_labels"] = list(query.get("missingLabels") or [])
        elif (query.get("labels") or []) != merge["require_labels"] or \
                (query.get("missingLabels") or []) != merge["forbid_labels"]:
            b.note(where, "its labels differ from the first query's; prowlet has one set of labels for every "
                          "repository, the first query's")
        for key in query:
            if key not in ("orgs", "repos", "labels", "missingLabels"):
                b.note(f"{where}.{key}", "no such merge condition in prowlet")
    if repos:
        merge["repos"] = list(dict.fromkeys(repos))
    methods = tide.get("merge_method") or {}
    if methods:
        counts: dict[str, int] = {}
        for method in methods.values():
            counts[str(method)] = counts.get(str(method), 0) + 1
        chosen = max(sorted(counts), key=lambda m: counts[m])
        if chosen in _MERGE_METHODS:
            merge["method"] = chosen
        else:
            b.note("config.yaml: tide.merge_method", f"{chosen!r} is not a merge method prowlet knows")
        if len(counts) > 1:
            b.note("config.yaml: tide.merge_method", f"prowlet has one merge method; chose {chosen!r} (the most used). "
                                                     "A PR's merge-method-<m> label still picks another")
    if _duration(tide.get("sync_period")):
        seconds = sum(int(v) * f for v, f in zip(_GO_DURATION.fullmatch(str(tide["sync_period"])).groups(),
                                                  (3600, 60, 1)) if v)
        merge["sync_interval"] = max(5, seconds)
    if tide.get("blocker_label"):
        merge["blocker_label"] = tide["blocker_label"]
    for key in tide:
        if key in ("queries", "merge_method", "sync_period", "blocker_label"):
            continue
        why = {"squash_label": "prowlet's label is merge-method-squash",
               "rebase_label": "prowlet's label is merge-method-rebase",
               "merge_label": "prowlet's label is merge-method-merge",
               "context_options": "prowlet requires every status but optional built-in jobs' and its own",
               "target_url": "prowlet's merge status links nowhere",
               "pr_status_base_urls": "prowlet's merge status links nowhere",
               "status_update_period": "prowlet writes its merge status at each pass, when it changes",
               "max_goroutines": "prowlet runs one pass per repository at a time"}.get(key, "no such merge setting in prowlet")
        b.note(f"config.yaml: tide.{key}", why)
    return merge


_CORE_NOTES = {
    "postsubmits": "prowlet runs jobs on changes only; postsubmits are not carried over",
    "periodics": "prowlet runs jobs on changes only; periodics are not carried over",
}


def _config_yaml(b: _Builder, data: Any, config: dict[str, Any]) -> None:
    if not isinstance(data, dict):
        b.note("config.yaml", "not a mapping: nothing imported")
        return
    jobs = _presubmits(b, data.get("presubmits"))
    if jobs:
        config["jobs"] = jobs
    merge = _tide(b, data.get("tide"))
    if merge is not None:
        config["merge"] = merge
    for key in data:
        if key not in ("presubmits", "tide"):
            b.note(f"config.yaml: {key}", _CORE_NOTES.get(key, "a Prow component setting prowlet has no use for"))


def import_prow(plugins: Any, core: Any = None, known_plugins: Collection[str] = ()) -> Imported:
    """Translate loaded Prow ``plugins.yaml`` (and ``config.yaml``) documents.  ``known_plugins``:
    prowlet's plugin names (``plugins.REGISTRY``)."""
    b = _Builder(known_plugins)
    _plugins_yaml(b, plugins)
    config = b.config()
    if core is not None:
        _config_yaml(b, core, config)
    return Imported(config, b.notes)


def render(imported: Imported) -> str:
    """The config as YAML, headed by what was not carried over (as comments)."""
    lines = ["# Imported from Prow by `prowlet import-prow`.  Check it with `prowlet check-config`."]
    if imported.notes:
        lines.append("# Not carried over:")
        lines += [f"#   {note}" for note in imported.notes]
    body = yaml.safe_dump(imported.config, sort_keys=False, allow_unicode=True, width=100)
    return "\n".join(lines) + "\n" + body

"""Parse OWNERS and OWNERS_ALIASES text (Prow's format) into validated, normalised values.

Stricter than Prow on purpose: Prow's YAML decoding ignores unknown keys and silently skips a
file it cannot read, so a typo ("approver:") quietly removes someone's approval power.  Here
every such mistake is an OwnersError naming the file and the problem.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import yaml

from bot.owners.errors import OwnersError
from bot.owners.paths import ALIASES_FILE

ROLE_KEYS = ("approvers", "reviewers", "required_reviewers", "labels")
# Kept for the record by many projects; accepted and checked, but they grant nothing.
EMERITUS_KEYS = ("emeritus_approvers", "emeritus_reviewers")
OPTION_KEYS = ("no_parent_owners", "auto_approve_unowned_subfolders")
TOP_KEYS = (*ROLE_KEYS, *EMERITUS_KEYS, "options", "filters")
FILTER_KEYS = (*ROLE_KEYS, *EMERITUS_KEYS)
MATCH_ALL = ".*"  # the filter for every file

Aliases = Mapping[str, frozenset[str]]


def norm_login(login: str) -> str:
    """Logins are case-insensitive and may be written "@name" (Prow's github.NormLogin)."""
    return login.strip().lower().removeprefix("@")


@dataclass(frozen=True)
class Rule:
    """What one OWNERS file grants to the files ``pattern`` matches (None: every file)."""

    pattern: re.Pattern[str] | None
    approvers: frozenset[str]
    reviewers: frozenset[str]
    required_reviewers: frozenset[str]
    labels: frozenset[str]

    def applies_to(self, relative_path: str) -> bool:
        return self.pattern is None or self.pattern.search(relative_path) is not None  # Go's MatchString


@dataclass(frozen=True)
class OwnersFile:
    rules: tuple[Rule, ...] = ()
    no_parent_owners: bool = False
    auto_approve_unowned_subfolders: bool = False


def _kind(value: object) -> str:
    """Name a YAML value's type the way an OWNERS author would think of it."""
    kinds = {bool: "true/false", int: "a number", float: "a number", str: "text", list: "a list",
             dict: "a mapping", type(None): "empty"}
    return kinds.get(type(value), f"a {type(value).__name__} value")


def load_yaml(text: str | bytes | None, path: str) -> Any:
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError:
            raise OwnersError(path, "is not valid UTF-8 text") from None
    if not isinstance(text, str):
        raise OwnersError(path, f"expected the file's text, got {_kind(text)}")
    try:
        return yaml.safe_load(text)
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        # "expected a single document..., but found another" reads best whole; "while parsing a
        # flow sequence" adds nothing to the problem itself.
        what = ", ".join(part for part in (err.context, err.problem) if part and not part.startswith("while "))
        what = what or "not valid YAML syntax"
        raise OwnersError(path, f"invalid YAML{where}: {what}") from None
    except RecursionError:
        raise OwnersError(path, "invalid YAML: nested too deeply") from None
    except Exception as err:  # noqa: BLE001 - bad characters, impossible dates...: all just bad input
        first_line = next(iter(str(err).splitlines()), type(err).__name__)
        raise OwnersError(path, f"invalid YAML: {first_line}") from None


def _check_keys(data: Mapping[Any, Any], allowed: tuple[str, ...], path: str, where: str) -> None:
    for key in data:
        if key not in allowed:
            raise OwnersError(path, f"unknown key {key!r}{where} (expected one of: {', '.join(allowed)})")


def _strings(value: Any, key: str, path: str, what: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise OwnersError(path, f"{key} must be a list of {what}, not {_kind(value)}")
    for item in value:
        if not isinstance(item, str):
            hint = " (quote it if it is meant as text)" if isinstance(item, (bool, int, float)) else ""
            raise OwnersError(path, f"{key} must be a list of {what}; {item!r} was read as {_kind(item)}{hint}")
        if not item.strip():
            raise OwnersError(path, f"{key} must be a list of {what}; {item!r} is not one")
    return value


def _logins(value: Any, key: str, path: str, aliases: Aliases) -> frozenset[str]:
    """Normalised logins with alias names expanded, one level deep as in Prow's ExpandAliases; a
    name that is not an alias is taken as a login."""
    out: set[str] = set()
    for item in _strings(value, key, path, "logins"):
        login = norm_login(item)
        if not login or len(login.split()) > 1:  # "@", or "a - b" from a mis-indented list
            raise OwnersError(path, f"{key} must be a list of logins; {item!r} is not one")
        out |= aliases.get(login, {login})
    return frozenset(out)


def _rule(body: Mapping[str, Any], pattern: re.Pattern[str] | None, path: str, where: str,
          aliases: Aliases) -> Rule:
    for key in EMERITUS_KEYS:
        _logins(body.get(key), where + key, path, aliases)  # checked, then dropped
    return Rule(
        pattern=pattern,
        approvers=_logins(body.get("approvers"), where + "approvers", path, aliases),
        reviewers=_logins(body.get("reviewers"), where + "reviewers", path, aliases),
        required_reviewers=_logins(body.get("required_reviewers"), where + "required_reviewers", path, aliases),
        labels=frozenset(s.strip() for s in _strings(body.get("labels"), where + "labels", path, "label names")),
    )


def _filter_rules(filters: Any, path: str, aliases: Aliases) -> tuple[Rule, ...]:
    if not isinstance(filters, dict):
        raise OwnersError(path, f"filters must be a mapping of path regex to approvers/reviewers/labels, "
                                f"not {_kind(filters)}")
    rules = []
    for pattern, body in filters.items():
        if not isinstance(pattern, str):
            raise OwnersError(path, f"filter pattern {pattern!r} must be text (a regular expression)")
        where = f"filters[{pattern!r}]."
        body = {} if body is None else body
        if not isinstance(body, dict):
            raise OwnersError(path, f"filter {pattern!r} must be a mapping with approvers, reviewers, "
                                    f"required_reviewers or labels, not {_kind(body)}")
        _check_keys(body, FILTER_KEYS, path, f" in filter {pattern!r}")
        try:
            compiled = re.compile(pattern)  # ".*" too: it matches every path, as Prow's special case does
        except (re.error, RecursionError, OverflowError) as err:
            raise OwnersError(path, f"filter {pattern!r} is not a valid regular expression: {err}") from None
        rules.append(_rule(body, compiled, path, where, aliases))
    return tuple(rules)


def _options(value: Any, path: str) -> dict[str, bool]:
    value = {} if value is None else value
    if not isinstance(value, dict):
        raise OwnersError(path, f"options must be a mapping, not {_kind(value)}")
    _check_keys(value, OPTION_KEYS, path, " in options")
    out = {}
    for key in OPTION_KEYS:
        flag = value.get(key) or False  # null reads as false, as in Prow's JSON decoding
        if not isinstance(flag, bool):
            raise OwnersError(path, f"options.{key} must be true or false, not {_kind(flag)}")
        out[key] = flag
    return out


def parse_owners(text: str | bytes | None, path: str, aliases: Aliases) -> OwnersFile:
    """One OWNERS file; ``path`` names it in errors.  An empty file is valid and grants nothing."""
    data = load_yaml(text, path)
    if data is None:
        return OwnersFile()
    if not isinstance(data, dict):
        raise OwnersError(path, f"must be a YAML mapping with keys such as approvers and reviewers, "
                                f"not {_kind(data)}")
    _check_keys(data, TOP_KEYS, path, "")
    options = _options(data.get("options"), path)
    if data.get("filters") is not None:
        mixed = [key for key in ROLE_KEYS if data.get(key)]
        if mixed:
            # Prow would silently ignore the filters here; refuse instead.
            raise OwnersError(path, f"uses filters and also top-level {', '.join(mixed)}; move them under "
                                    f"a {MATCH_ALL!r} filter")
        for key in EMERITUS_KEYS:
            _logins(data.get(key), key, path, aliases)
        rules = _filter_rules(data["filters"], path, aliases)
    else:
        rules = (_rule(data, None, path, "", aliases),)
    return OwnersFile(rules=rules, **options)


def _alias_members(name: str, members: Any) -> frozenset[str]:
    if isinstance(members, dict) and all(v is None for v in members.values()):
        members = list(members)  # flow-style set "{alice, bob}", which Prow accepts
    if members is not None and not isinstance(members, list):  # None: "team:" alone, an empty team
        raise OwnersError(ALIASES_FILE, f"alias {name!r} must be a list of logins, not {_kind(members)}")
    return _logins(members, f"alias {name!r}", ALIASES_FILE, {})  # {}: aliases don't nest, as in Prow


def parse_aliases(text: str | bytes | None) -> dict[str, frozenset[str]]:
    """OWNERS_ALIASES: ``aliases: {name: [logins]}``; None (no file) means no aliases."""
    if text is None:
        return {}
    data = load_yaml(text, ALIASES_FILE)
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise OwnersError(ALIASES_FILE, f"must be a YAML mapping with an 'aliases' key, not {_kind(data)}")
    _check_keys(data, ("aliases",), ALIASES_FILE, "")
    table = data.get("aliases") or {}
    if not isinstance(table, dict):
        raise OwnersError(ALIASES_FILE, f"aliases must be a mapping of alias name to a list of logins, "
                                        f"not {_kind(table)}")
    out: dict[str, frozenset[str]] = {}
    for name, members in table.items():
        if not isinstance(name, str) or not name.strip():
            raise OwnersError(ALIASES_FILE, f"alias name {name!r} must be text")
        key = norm_login(name)
        if key in out:
            raise OwnersError(ALIASES_FILE, f"alias {key!r} is defined twice (names are case-insensitive)")
        out[key] = _alias_members(name, members)
    return out

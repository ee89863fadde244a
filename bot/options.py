"""Typed options from YAML: build a dataclass from a mapping, collecting every problem.

The core config and each plugin's own section use this one loader, so every error message has the
same shape: the dotted key, then what is wrong (``plugins.options.label.restricted: expected a
mapping of label to list of logins, got list``).
"""

from __future__ import annotations

import dataclasses
import re
import types
import typing
from collections.abc import Mapping
from typing import Any, TypeVar

T = TypeVar("T")


@dataclasses.dataclass(frozen=True)
class ConfigProblem:
    key: str
    message: str

    def __str__(self) -> str:
        return f"{self.key}: {self.message}" if self.key else self.message


class ConfigError(ValueError):
    def __init__(self, problems: list[ConfigProblem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


_TYPE_NAMES = {str: "a string", int: "an integer", float: "a number", bool: "true or false"}


def _describe(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if tp in _TYPE_NAMES:
        return _TYPE_NAMES[tp]
    if tp is re.Pattern or origin is re.Pattern:
        return "a regular expression"
    if origin in (list, tuple, frozenset):
        return f"a list of {_describe(typing.get_args(tp)[0]).removeprefix('a ').removeprefix('an ')}s"
    if origin is dict:
        return "a mapping"
    if dataclasses.is_dataclass(tp):
        return "a mapping"
    return str(tp)


def _kind(value: Any) -> str:
    return {dict: "mapping", list: "list", str: "string", bool: "boolean", int: "integer",
            float: "number", type(None): "null"}.get(type(value), type(value).__name__)


def _convert(tp: Any, value: Any, key: str, problems: list[ConfigProblem]) -> Any:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):  # only "X | None" is used
        if value is None:
            return None
        (inner,) = [a for a in typing.get_args(tp) if a is not type(None)]
        return _convert(inner, value, key, problems)
    if dataclasses.is_dataclass(tp):
        return build(tp, value, key, problems)
    if tp is re.Pattern or origin is re.Pattern:
        if not isinstance(value, str):
            problems.append(ConfigProblem(key, f"expected a regular expression, got {_kind(value)}"))
            return None
        try:
            return re.compile(value)
        except re.error as err:
            problems.append(ConfigProblem(key, f"bad regular expression {value!r}: {err}"))
            return None
    if origin in (list, tuple, frozenset):
        if not isinstance(value, list):
            problems.append(ConfigProblem(key, f"expected {_describe(tp)}, got {_kind(value)}"))
            return origin()
        (inner,) = typing.get_args(tp)[:1]
        return origin(_convert(inner, v, f"{key}[{i}]", problems) for i, v in enumerate(value))
    if origin is dict:
        if not isinstance(value, dict):
            problems.append(ConfigProblem(key, f"expected a mapping, got {_kind(value)}"))
            return {}
        ktype, vtype = typing.get_args(tp)
        return {
            _convert(ktype, k, key, problems): _convert(vtype, v, f"{key}.{k}", problems)
            for k, v in value.items()
        }
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    # bool is an int subclass: reject "port: true" and "enabled: 1" alike.
    if tp in _TYPE_NAMES and (type(value) is not tp):
        problems.append(ConfigProblem(key, f"expected {_describe(tp)}, got {_kind(value)}"))
        return None
    return value


def build(cls: type[T], data: Any, key: str = "", problems: list[ConfigProblem] | None = None) -> T:
    """Build ``cls`` (a dataclass with defaults for every field) from ``data``.

    With ``problems`` given, problems are appended to it and a best-effort instance is returned;
    without, a ConfigError listing every problem is raised.
    """
    collect = problems is not None
    problems = problems if collect else []
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        problems.append(ConfigProblem(key, f"expected a mapping, got {_kind(data)}"))
        data = {}
    hints = typing.get_type_hints(cls)
    # A field may be spelt differently in YAML (metadata "key"): ``from`` is no Python name.
    fields = {f.metadata.get("key", f.name): f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    values: dict[str, Any] = {}
    for name, value in data.items():
        sub = f"{key}.{name}" if key else str(name)
        if name not in fields:
            known = ", ".join(sorted(fields)) or "none"
            problems.append(ConfigProblem(sub, f"unknown key (known keys: {known})"))
            continue
        converted = _convert(hints[fields[name].name], value, sub, problems)
        if converted is not None:
            values[fields[name].name] = converted
    result = cls(**values)
    # Cross-field rules live on the options class itself, next to the fields they constrain.
    check = getattr(result, "check", None)
    if callable(check):
        problems.extend(ConfigProblem(f"{key}.{k}" if key else k, msg) for k, msg in check())
    if not collect and problems:
        raise ConfigError(problems)
    return result

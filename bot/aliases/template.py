"""The alias mini-language, pure: a command format ``"{{env}} {{branch=HEAD}}"``, binding a
command's words to its parameters, validating values, and filling ``{{name}}`` templates.

Substitution is a lookup in a dict, never ``eval`` or ``str.format``; values are checked before any
template sees them, and templates are never handed to a shell.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
_FORMAT_TOKEN = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*(?:=\s*([^{}\s]*)\s*)?\}\}")
_FORMAT_WORD = re.compile(r"\{\{[^{}]*\}\}|\S+")  # a {{...}} (spaces allowed inside), else a word
# Every value must look like this, whatever its own rules say: one word that cannot be read as an
# option (no leading '-') and holds nothing a shell, a URL or YAML would treat specially.
SAFE_VALUE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._/@+:-]{0,199}")
HEAD = "HEAD"  # a value meaning "the PR/MR's head branch"
RESULT_FIELDS = ("status", "url")  # what a result template may use besides the parameters


class FormatError(ValueError):
    """A format that cannot be parsed (check-config names it)."""


class ArgumentError(ValueError):
    """What the commenter wrote does not fit the alias (told to them as it is)."""


@dataclass(frozen=True)
class Param:
    name: str
    default: str | None = None  # None: required

    @property
    def syntax(self) -> str:
        return f"<{self.name}>" if self.default is None else f"[{self.name}={self.default}]"


def parse_format(text: str) -> tuple[Param, ...]:
    """``"{{env}} {{branch=HEAD}}"`` → (Param("env"), Param("branch", "HEAD")).  Parameters are
    separated by whitespace; one with a default may only be followed by others with defaults."""
    params: list[Param] = []
    for word in _FORMAT_WORD.findall(text):
        match = _FORMAT_TOKEN.fullmatch(word)
        if match is None:
            raise FormatError(f"{word!r} is not a parameter such as {{{{env}}}} or {{{{branch=HEAD}}}}")
        name, default = match[1].lower(), match[2]
        if any(p.name == name for p in params):
            raise FormatError(f"parameter {name!r} appears twice")
        if default is not None and not SAFE_VALUE.fullmatch(default):
            raise FormatError(f"default of {name!r} must be one plain word, got {default!r}")
        if default is None and params and params[-1].default is not None:
            raise FormatError(f"required parameter {name!r} follows one with a default")
        params.append(Param(name, default))
    return tuple(params)


def syntax(params: Sequence[Param]) -> str:
    return " ".join(p.syntax for p in params)


def bind(params: Sequence[Param], args: str) -> dict[str, str]:
    """The words of ``args`` given to ``params`` in order; missing ones take their defaults."""
    words = args.split()
    if len(words) > len(params):
        raise ArgumentError(f"too many values: expected at most {len(params)}, got {len(words)}")
    values: dict[str, str] = {}
    for i, param in enumerate(params):
        if i < len(words):
            values[param.name] = words[i]
        elif param.default is not None:
            values[param.name] = param.default
        else:
            raise ArgumentError(f"missing value for {param.name!r}")
    return values


def check_value(name: str, value: str, allowed: Sequence[str] = (), regex: re.Pattern[str] | None = None) -> None:
    """Raise ArgumentError unless ``value`` is a safe word allowed for parameter ``name``."""
    if not SAFE_VALUE.fullmatch(value):
        raise ArgumentError(f"{name!r} must be one plain word (letters, digits and . _ / @ + : -, "
                            f"not starting with '-')")
    if allowed and value not in allowed:
        raise ArgumentError(f"{name!r} must be one of {', '.join(allowed)}")
    if regex is not None and not regex.fullmatch(value):
        raise ArgumentError(f"{name!r} must match {regex.pattern}")


def placeholders(template: str) -> list[str]:
    return [m.lower() for m in _PLACEHOLDER.findall(template)]


def render(template: str, values: Mapping[str, str]) -> str:
    """Replace each ``{{name}}`` with its value ("" when there is none)."""
    return _PLACEHOLDER.sub(lambda m: values.get(m[1].lower(), ""), template)

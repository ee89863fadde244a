"""Which plugin API versions a plugin accepts: ``requires_api = ">=1,<2"`` against ``API_VERSION``.

A deliberately small grammar (no dependency on ``packaging``): comma-separated clauses, each an
operator (``>=``, ``>``, ``<=``, ``<``, ``==``, ``!=``, ``~=``) and a dotted number.  Missing parts
count as 0, so ``<2`` means below 2.0 and ``==1`` means exactly 1.0.  ``~=1.2`` means ``>=1.2,<2``.
"""

from __future__ import annotations

import operator
import re

API_VERSION = "1.0"

_CLAUSE = re.compile(r"\s*(>=|<=|==|!=|~=|>|<)\s*(\d+(?:\.\d+)*)\s*")
_COMPARE = {">=": operator.ge, ">": operator.gt, "<=": operator.le, "<": operator.lt,
            "==": operator.eq, "!=": operator.ne}


class BadSpecifier(ValueError):
    pass


def _version(text: str, width: int = 3) -> tuple[int, ...]:
    parts = [int(p) for p in text.split(".")]
    return tuple(parts + [0] * (width - len(parts)))


def _clauses(spec: str) -> list[tuple[str, str]]:
    out = []
    for clause in spec.split(","):
        match = _CLAUSE.fullmatch(clause)
        if match is None:
            raise BadSpecifier(f"cannot read {spec!r}: {clause.strip()!r} is not an operator and a version "
                               f"(write e.g. \">=1,<2\")")
        out.append((match.group(1), match.group(2)))
    return out


def api_mismatch(spec: str, version: str = API_VERSION) -> str | None:
    """None when ``version`` satisfies ``spec`` (an empty spec accepts any version); else why not.
    Raises BadSpecifier when ``spec`` cannot be read."""
    if not spec.strip():
        return None
    have = _version(version)
    for op, wanted in _clauses(spec):
        if op == "~=":
            parts = wanted.split(".")
            if len(parts) < 2:
                raise BadSpecifier(f"cannot read {spec!r}: ~= needs at least two parts (~=1.0)")
            upper = _version(".".join(parts[:-2] + [str(int(parts[-2]) + 1)]))
            ok = _version(wanted) <= have < upper
        else:
            ok = _COMPARE[op](have, _version(wanted))
        if not ok:
            return f"it requires plugin API {spec}, and this prowlet provides {version}"
    return None

"""Which paths ``.gitattributes`` marks ``linguist-generated`` (what the size plugin leaves out).

Pure.  Git's rules, as far as they matter here: a pattern without a slash matches the file name at
any depth; with a slash it is anchored at the root; ``*`` and ``?`` stop at a slash, ``**`` does not;
the last line that sets or unsets the attribute wins (``linguist-generated``, ``=true`` set it;
``-linguist-generated``, ``=false``, ``!linguist-generated`` unset it).
"""

from __future__ import annotations

import re

_ATTR = "linguist-generated"


def _glob_to_regex(pattern: str) -> re.Pattern[str]:
    anchored = "/" in pattern.rstrip("/")
    pattern = pattern.lstrip("/")
    out, i = [], 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    body = "".join(out)
    return re.compile(body if anchored else f"(?:.*/)?{body}")


def _setting(attrs: list[str]) -> bool | None:
    """What the attributes of one line say of linguist-generated: True, False, or nothing."""
    verdict = None
    for attr in attrs:
        if attr in (_ATTR, f"{_ATTR}=true"):
            verdict = True
        elif attr in (f"-{_ATTR}", f"!{_ATTR}", f"{_ATTR}=false"):
            verdict = False
    return verdict


class LinguistGenerated:
    def __init__(self, text: str | None) -> None:
        self._rules: list[tuple[re.Pattern[str], bool]] = []
        for line in (text or "").splitlines():
            parts = line.split()
            if not parts or parts[0].startswith("#"):
                continue
            verdict = _setting(parts[1:])
            if verdict is not None:
                self._rules.append((_glob_to_regex(parts[0]), verdict))

    def __call__(self, path: str) -> bool:
        generated = False
        for regex, verdict in self._rules:  # the last matching line wins
            if regex.fullmatch(path):
                generated = verdict
        return generated

"""The one slash-command parser (DESIGN.md, "Parse once, purely").

Pure: no I/O, no imports from the rest of prowlet.  Every plugin gets its commands from
``parse_commands`` so that quoting, code blocks and HTML comments are treated the same everywhere.

Rules (Prow's, with CommonMark's idea of what is code):

* A command starts a line: ``/name`` then whitespace or end of line.  Up to 3 leading spaces are
  allowed; 4+ spaces or a tab is an indented code block.  ``name`` is ``[A-Za-z][A-Za-z0-9_-]*``
  and is lower-cased; args keep their case.
* Ignored: quoted lines (``> /hold``), fenced code (``` or ~~~, CommonMark closing rules, an
  unclosed fence runs to the end), indented code, and HTML comments.
* HTML comments are removed before lines are looked at.  Text that follows a comment on the same
  line never starts a command (``<!-- x --> /hold`` is not one), and an unclosed ``<!--`` hides the
  rest of the comment.  Both are the conservative choice: what a reader does not see must not act.
* With ``prefix`` (e.g. ``"prow-"`` on GitLab, whose own quick actions swallow ``/assign``...)
  ``/prow-assign`` is also ``assign``.  A line whose name starts with the prefix is always read as
  prefixed, so a bare ``/prow-`` is nothing.
* At most ``MAX_COMMANDS`` per comment.  Everything is linear in the size of the body.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["Invocation", "MAX_COMMANDS", "parse_commands", "parse_logins"]

MAX_COMMANDS = 20  # per comment; further commands are ignored (bounds the work a comment can cause)


@dataclass(frozen=True)
class Invocation:
    """One command found in a comment."""

    name: str  # lower-cased command name, prefix removed: "lgtm", "remove-label"
    args: str  # rest of the line after the name, whitespace-trimmed, original case ("" if none)
    line: str  # the command line as written (minus HTML comments), trimmed, for quoting back


_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_-]*(?=\s|$)")  # used with .match only: anchored, linear
# A prefix must end in a separator, else it is ambiguous ("p" would turn /priority into "riority").
_PREFIX = re.compile(r"[A-Za-z][A-Za-z0-9_-]*[-_]")
_FENCE = re.compile(r" {0,3}(`{3,}|~{3,})(.*)")
_NEWLINE = re.compile(r"\r\n|\r|\n")
# Stands where an HTML comment was; NULs in the input are replaced first, as CommonMark does.
_HIDDEN = "\x00"


def _remove_html_comments(text: str) -> str:
    """Replace every ``<!-- ... -->`` with a marker; an unclosed one swallows the rest."""
    out: list[str] = []
    pos = 0
    while (start := text.find("<!--", pos)) >= 0:
        out.append(text[pos:start])
        end = text.find("-->", start + 2)  # "<!-->" and "<!--->" are (empty) comments in HTML
        if end < 0:
            return "".join(out)
        out.append(_HIDDEN)
        pos = end + 3
    out.append(text[pos:])
    return "".join(out)


def _leading_spaces(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def parse_commands(body: object, prefix: str = "") -> list[Invocation]:
    """Return the commands in a comment body, in order, duplicates kept, at most MAX_COMMANDS.

    ``prefix`` must be empty or look like ``prow-`` (letters/digits/``-``/``_``, ending in ``-``
    or ``_``); anything else is a configuration error and raises ``ValueError``.
    """
    if prefix and not (isinstance(prefix, str) and _PREFIX.fullmatch(prefix)):
        raise ValueError(
            f"invalid command prefix {prefix!r}: letters, digits, '-' or '_', ending in '-' or '_'"
        )
    if not isinstance(body, str):
        return []
    prefix = (prefix or "").lower()
    text = _remove_html_comments(body.replace(_HIDDEN, "\ufffd"))

    found: list[Invocation] = []
    fence: tuple[str, int] | None = None  # (fence character, length) while inside a fenced block
    for line in _NEWLINE.split(text):
        m = _FENCE.match(line)
        if fence is not None:
            # Closed only by the same character, at least as long, with nothing but spaces after.
            if m and m[1][0] == fence[0] and len(m[1]) >= fence[1] and not m[2].strip(" \t"):
                fence = None
            continue
        if m and not (m[1][0] == "`" and "`" in m[2]):  # a ``` info string cannot hold a backtick
            fence = (m[1][0], len(m[1]))
            continue
        # Quoted lines, list items, tabs and text after a comment all fail this test.
        indent = _leading_spaces(line)
        if indent > 3 or not line.startswith("/", indent):
            continue
        command = line[indent:].replace(_HIDDEN, "").strip()
        start = 1
        if prefix and command[1 : 1 + len(prefix)].lower() == prefix:
            start += len(prefix)  # prefixed form; if nothing valid follows, it is no command
        name = _NAME.match(command, start)
        if name is None:
            continue
        found.append(Invocation(name[0].lower(), command[name.end() :].strip(), command))
        if len(found) >= MAX_COMMANDS:
            break
    return found


# GitHub: alphanumerics and '-'; GitLab also allows '.' and '_'.  Accept the union.
_LOGIN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,254}")
_LOGIN_SEPARATORS = re.compile(r"[\s,]+")


def parse_logins(args: object) -> tuple[list[str], list[str]]:
    """Split '@alice bob, @carol' into logins and invalid tokens.

    Logins lose their '@', keep their order and are de-duplicated case-insensitively (first
    spelling wins); invalid tokens are kept as written, in order, exact duplicates dropped.

    A valid login is ``[A-Za-z0-9][A-Za-z0-9._-]*``, at most 255 characters, after one optional '@'.
    """
    if not isinstance(args, str):
        return [], []
    logins: list[str] = []
    invalid: list[str] = []
    seen_logins: set[str] = set()  # lower-cased
    seen_invalid: set[str] = set()
    for token in _LOGIN_SEPARATORS.split(args):
        if not token:
            continue
        login = token[1:] if token.startswith("@") else token
        if not _LOGIN.fullmatch(login):
            if token not in seen_invalid:
                seen_invalid.add(token)
                invalid.append(token)
        elif login.lower() not in seen_logins:
            seen_logins.add(login.lower())
            logins.append(login)
    return logins, invalid

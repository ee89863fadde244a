"""Replies the bot posts, rendered so that user text can never become a command.

GitLab executes quick actions found at the start of any line of a note, *with the rights of the
note's author* — the bot.  So a reply never starts a line with user-supplied text: messages name
users first (``@alice: ...``), user text is quoted (``> ...``), and a final pass rewrites any line
that would still begin with ``/`` to begin with ``&#47;``, which renders the same on both forges.

Echoed user text (``quote``, ``code``) never mentions anyone: a zero-width joiner follows each "@"
that could start a mention, which renders the same but notifies nobody (GitHub and GitLab alike;
``&#64;`` would show literally inside a code span).  The bot's own ``@actor:`` is not echoed text.
Replies stay under the forge's comment size limit: ``render_reply`` cuts the quoted command line,
then the message, with "… (N more characters)".
"""

from __future__ import annotations

import re
from collections.abc import Sequence

# A line that some forge could read as a command: optional blanks and quote markers, then "/".
_COMMAND_LIKE = re.compile(r"^([\s>]*)/", re.MULTILINE)


def _one_newline_style(text: str) -> str:
    # "\r", "\x85", "\u2028" ... all end a line for some reader; "^" below only knows "\n".
    return "\n".join(text.splitlines())


def neutralize(text: str) -> str:
    """Make every line that starts with "/" (even inside a quote) inert."""
    return _COMMAND_LIKE.sub(lambda m: f"{m.group(1)}&#47;", _one_newline_style(text))


# "@" where a forge would start a mention: not after a word character (so not in "a@b.c").
_MENTION = re.compile(r"(?<![\w])@(?=[\w-])")
ZWJ = "\u200d"
_BACKTICKS = re.compile(r"`+")


def unmention(text: str) -> str:
    """User text that notifies nobody: "@alice" becomes "@\u200dalice" (renders the same)."""
    return _MENTION.sub("@" + ZWJ, text)


def quote(text: str) -> str:
    return "\n".join(f"> {line}" for line in unmention(text).splitlines() or [""])


def code(text: str) -> str:
    """Inline code span for user text (label names, logins) embedded in a sentence.

    CommonMark: a span ends at a backtick run as long as its opening one, so the fence is one
    longer than the longest run inside; spaces pad it when the text starts or ends with a backtick
    (one space each side is stripped again when rendered)."""
    text = unmention(" ".join(text.splitlines()))
    fence = "`" * (max((len(run) for run in _BACKTICKS.findall(text)), default=0) + 1)
    pad = " " if text[:1] in ("`", " ") or text[-1:] in ("`", " ") or fence != "`" else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def clip(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters, saying how many were left out."""
    if len(text) <= limit:
        return text
    return f"{text[:max(limit, 0)]} … ({len(text) - max(limit, 0)} more characters)"


def listing(items: Sequence[str], shown: int = 10) -> str:
    """User-supplied names as code spans, at most ``shown`` of them, then "… (N more)"."""
    head = ", ".join(code(item) for item in items[:shown])
    return f"{head} … ({len(items) - shown} more)" if len(items) > shown else head


def render_reply(actor: str, message: str, command_line: str | None = None, url: str | None = None,
                 limit: int | None = None) -> str:
    """Prow's reply shape: address the user, say what happened, quote what they asked in a fold.
    With ``limit`` (the forge's comment size), the quoted line and then the message are cut to fit."""
    body = _render_reply(actor, message, command_line, url)
    if limit is None or len(body) <= limit:
        return body
    keep = len(command_line or "")
    while command_line and keep > 0 and len(body) > limit:
        keep = max(0, min(keep // 2, keep - (len(body) - limit)))
        body = _render_reply(actor, message, clip(command_line, keep), url)
    keep = len(message)
    while len(body) > limit and keep > 0:
        keep = max(0, min(keep // 2, keep - (len(body) - limit)))
        body = _render_reply(actor, clip(message, keep), command_line and clip(command_line, 0), url)
    return body


def _render_reply(actor: str, message: str, command_line: str | None, url: str | None) -> str:
    parts = [f"@{actor}: {message}"]
    if command_line:
        source = f"[this]({url})" if url else "this"
        parts.append(
            "<details>\n\n"
            f"In response to {source}:\n\n{quote(command_line)}\n\n"
            "`/help` on a pull or merge request lists the commands I understand here.\n"
            "</details>"
        )
    return neutralize("\n\n".join(parts))


def render_note(message: str) -> str:
    """A message not answering a command (e.g. "new commits removed lgtm")."""
    return neutralize(message)


def with_marker(body: str, marker: str) -> str:
    """A hidden line that identifies one message, so a retried handler can tell it was posted."""
    return f"{body}\n\n<!-- prowlet:{marker} -->"


def has_marker(body: str, marker: str) -> bool:
    return f"<!-- prowlet:{marker} -->" in body

"""Replies the bot posts, rendered so that user text can never become a command.

GitLab executes quick actions found at the start of any line of a note, *with the rights of the
note's author* — the bot.  So a reply never starts a line with user-supplied text: messages name
users first (``@alice: ...``), user text is quoted (``> ...``), and a final pass rewrites any line
that would still begin with ``/`` to begin with ``&#47;``, which renders the same on both forges.
"""

from __future__ import annotations

import re

# A line that some forge could read as a command: optional blanks and quote markers, then "/".
_COMMAND_LIKE = re.compile(r"^([\s>]*)/", re.MULTILINE)


def _one_newline_style(text: str) -> str:
    # "\r", "\x85", "\u2028" ... all end a line for some reader; "^" below only knows "\n".
    return "\n".join(text.splitlines())


def neutralize(text: str) -> str:
    """Make every line that starts with "/" (even inside a quote) inert."""
    return _COMMAND_LIKE.sub(lambda m: f"{m.group(1)}&#47;", _one_newline_style(text))


def quote(text: str) -> str:
    return "\n".join(f"> {line}" for line in text.splitlines() or [""])


def code(text: str) -> str:
    """Inline code span for user text (label names, logins) embedded in a sentence."""
    text = " ".join(text.splitlines())
    fence = "``" if "`" in text else "`"
    return f"{fence}{text}{fence}" if fence == "`" else f"{fence} {text} {fence}"


def render_reply(actor: str, message: str, command_line: str | None = None, url: str | None = None) -> str:
    """Prow's reply shape: address the user, say what happened, quote what they asked in a fold."""
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

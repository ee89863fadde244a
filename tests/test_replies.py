"""Replies never let user text become a command; they address the user and quote the command."""

from __future__ import annotations

import pytest

from bot.commands import parse_commands
from bot.replies import code, neutralize, render_reply

NEUTRALIZE = [
    ("plain line", "/close", "&#47;close"),
    ("indented", "   /close", "   &#47;close"),
    ("quoted", "> /close", "> &#47;close"),
    ("nested quote", ">> /close", ">> &#47;close"),
    ("not at start", "say /close", "say /close"),
    ("several lines", "a\n/close\nb\n/merge", "a\n&#47;close\nb\n&#47;merge"),
]


@pytest.mark.parametrize("text,expected", [c[1:] for c in NEUTRALIZE], ids=[c[0] for c in NEUTRALIZE])
def test_neutralize(text: str, expected: str) -> None:
    assert neutralize(text) == expected


HOSTILE = ["/close", "x\n/merge", "> /approve", "```\n/label x\n```", "/assign @me\r\n/close", "\n\n/lock"]


@pytest.mark.parametrize("text", HOSTILE)
def test_reply_with_hostile_text_contains_no_command(text: str) -> None:
    reply = render_reply("alice", f"the label {code(text)} is missing", command_line=text, url="http://x")
    assert reply.startswith("@alice: ")
    assert parse_commands(reply) == []
    for line in reply.splitlines():
        assert not line.lstrip(" >").startswith("/")


def test_reply_quotes_the_command_with_a_link() -> None:
    reply = render_reply("bob", "done.", command_line="/hold", url="https://example/1")
    assert "In response to [this](https://example/1):" in reply
    assert "> &#47;hold" in reply


CODE = [("simple", "kind/bug", "`kind/bug`"), ("backtick", "a`b", "`` a`b ``"), ("newline", "a\nb", "`a b`")]


@pytest.mark.parametrize("text,expected", [c[1:] for c in CODE], ids=[c[0] for c in CODE])
def test_code(text: str, expected: str) -> None:
    assert code(text) == expected

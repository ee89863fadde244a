"""Replies never let user text become a command; they address the user and quote the command."""

from __future__ import annotations

import pytest

from bot.commands import parse_commands
import re

from bot.replies import ZWJ, clip, code, listing, neutralize, quote, render_reply, unmention

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


CODE = [
    ("simple", "kind/bug", "`kind/bug`"),
    ("backtick", "a`b", "`` a`b ``"),
    ("newline", "a\nb", "`a b`"),
    ("double backtick", "a``b", "``` a``b ```"),
    ("leading backtick", "`x", "`` `x ``"),
    ("breakout attempt", "x`` @all ``y", f"``` x`` @{ZWJ}all ``y ```"),
    ("mention", "@bob", f"`@{ZWJ}bob`"),
]


@pytest.mark.parametrize("text,expected", [c[1:] for c in CODE], ids=[c[0] for c in CODE])
def test_code(text: str, expected: str) -> None:
    assert code(text) == expected


UNMENTION = [
    ("user", "@alice", f"@{ZWJ}alice"),
    ("team", "hi @acme/devs", f"hi @{ZWJ}acme/devs"),
    ("several", "@a @b-c", f"@{ZWJ}a @{ZWJ}b-c"),
    ("email stays", "me@example.com", "me@example.com"),
    ("lone at", "@ home", "@ home"),
]


@pytest.mark.parametrize("text,expected", [c[1:] for c in UNMENTION], ids=[c[0] for c in UNMENTION])
def test_unmention(text: str, expected: str) -> None:
    assert unmention(text) == expected


# A mention is "@" + name not preceded by a word character, outside code spans (which GitHub and
# GitLab never scan for mentions).  Code spans are found the CommonMark way: equal fence runs.
_SPAN = re.compile(r"(?<!`)(`+)(?!`).*?(?<!`)\1(?!`)", re.DOTALL)


def _mentions_outside_code(text: str) -> set[str]:
    return set(re.findall(r"(?<![\w])@([\w-]+)", _SPAN.sub("", text)))


ECHOED = [
    ("plain", "/cc @a @b @c"),
    ("double backtick escape", "/label `` @a @b ``"),
    ("triple", "/label ``` @a ```"),
    ("odd runs", "/label `x`` @a ``` @b ` @c"),
]


@pytest.mark.parametrize("line", [c[1] for c in ECHOED], ids=[c[0] for c in ECHOED])
def test_echoed_text_mentions_nobody_but_the_actor(line: str) -> None:
    args = line.split(" ", 1)[1]
    reply = render_reply("alice", f"the label {code(args)} is missing; {listing(args.split())}", line, "http://x")
    assert _mentions_outside_code(reply) == {"alice"}
    assert _mentions_outside_code(quote(line)) == set()
    assert f"@{ZWJ}a" in reply


CLIP = [("short", "abc", 5, "abc"), ("exact", "abcde", 5, "abcde"), ("cut", "abcdefgh", 3, "abc … (5 more characters)")]


@pytest.mark.parametrize("text,limit,expected", [c[1:] for c in CLIP], ids=[c[0] for c in CLIP])
def test_clip(text: str, limit: int, expected: str) -> None:
    assert clip(text, limit) == expected


LISTING = [
    ("few", ["a", "b"], 3, "`a`, `b`"),
    ("many", ["a", "b", "c", "d"], 2, "`a`, `b` … (2 more)"),
]


@pytest.mark.parametrize("items,shown,expected", [c[1:] for c in LISTING], ids=[c[0] for c in LISTING])
def test_listing(items: list[str], shown: int, expected: str) -> None:
    assert listing(items, shown) == expected


HUGE = [
    ("long command line", "x" * 1_000_000, "short message"),
    ("long message", "/label x", "m" * 1_000_000),
    ("both long", "/x " + "@y " * 300_000, "m" * 300_000),
]


@pytest.mark.parametrize("line,message", [c[1:] for c in HUGE], ids=[c[0] for c in HUGE])
@pytest.mark.parametrize("limit", [65_536, 1_000])
def test_reply_fits_the_forge_limit(line: str, message: str, limit: int) -> None:
    reply = render_reply("alice", message, line, "http://x", limit=limit)
    assert len(reply) <= limit
    assert reply.startswith("@alice: ")
    assert "more characters)" in reply


def test_reply_within_the_limit_is_unchanged() -> None:
    assert render_reply("a", "m", "/hold", "u", limit=65_536) == render_reply("a", "m", "/hold", "u")

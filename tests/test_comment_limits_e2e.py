"""No comment can make the bot spend the budget or spam people (issue 10, item 6).

Each case is a hostile comment end to end, counting the fake forge's requests: names beyond the
per-command cap cost nothing and are named in the reply; echoed user text mentions nobody; a reply
to a huge command line still fits the forge's comment size and is posted.
"""

from __future__ import annotations

import re

import pytest

from bot.caps import JOBS_PER_COMMAND, LABELS_PER_COMMAND, USERS_PER_COMMAND
from bot.replies import ZWJ
from tests.conftest import AUTHOR, COLLAB, OUTSIDER, REPO, Bot, typed
from tests.fakes.base import RecordedRequest

MAX_COMMENT = {"github": 65_536, "gitlab": 1_000_000}


def _writes(calls: list[RecordedRequest]) -> int:
    return sum(c.method != "GET" for c in calls)


# CommonMark code spans (equal backtick runs), where neither forge finds mentions.
_SPAN = re.compile(r"(?<!`)(`+)(?!`).*?(?<!`)\1(?!`)", re.DOTALL)


def _mentioned(body: str) -> set[str]:
    """Who a comment notifies: "@name" outside code spans, not after a word character (a "@"
    followed by a zero-width joiner does not match)."""
    return {m.lower() for m in re.findall(r"(?<![\w])@([\w][\w-]*)", _SPAN.sub("", body))}


async def _warm(bot: Bot) -> int:
    fake = bot.fake
    number, opened = fake.open_pull(REPO, author=AUTHOR)
    await bot.deliver(opened)
    await bot.deliver(fake.comment(REPO, number, COLLAB, typed(fake.name, "/label needs-docs\n/assign @carl")))
    return number


async def _run(bot: Bot, number: int, author: str, body: str) -> list[RecordedRequest]:
    before = len(bot.fake.requests)
    await bot.deliver(bot.fake.comment(REPO, number, author, typed(bot.fake.name, body)))
    return bot.fake.requests[before:]


@pytest.mark.parametrize("command", ["cc", "assign", "unassign", "uncc"])
async def test_many_users_cost_at_most_the_cap(bot: Bot, command: str) -> None:
    number = await _warm(bot)
    names = [f"user{i}" for i in range(1_000)]
    replies_before = len(bot.bot_comments(number))
    calls = await _run(bot, number, OUTSIDER, f"/{command} " + " ".join(f"@{n}" for n in names))
    # a read of the item, one per capped user at most (GitLab resolves user ids), a few writes
    assert len(calls) <= USERS_PER_COMMAND + 6, [f"{c.method} {c.path}" for c in calls]
    # GitHub: a refused batch of review requests is retried one by one (to request the others)
    assert _writes(calls) <= (USERS_PER_COMMAND + 3 if command == "cc" else 3)
    replies = bot.bot_comments(number)[replies_before:]
    assert any(f"at most {USERS_PER_COMMAND} users" in r and "(985 more)" in r for r in replies), replies
    for reply in replies:
        assert _mentioned(reply) == {OUTSIDER}, reply


@pytest.mark.parametrize("command", ["label", "remove-label", "kind", "remove-kind"])
async def test_many_labels_cost_at_most_the_cap(bot: Bot, command: str) -> None:
    number = await _warm(bot)
    calls = await _run(bot, number, COLLAB, f"/{command} " + " ".join(f"l{i}" for i in range(500)))
    # the capped labels (removal on GitHub: one request each; GitLab: one update), and the reply
    one_each = command.startswith("remove") and bot.fake.name == "github"
    assert _writes(calls) <= (LABELS_PER_COMMAND + 1 if one_each else 2), [f"{c.method} {c.path}" for c in calls]
    assert len(calls) <= LABELS_PER_COMMAND + 6, [f"{c.method} {c.path}" for c in calls]
    (reply,) = bot.bot_comments(number)
    assert f"at most {LABELS_PER_COMMAND} labels" in reply and "(475 more)" in reply


async def test_remove_label_beyond_the_cap_is_not_done(bot: Bot) -> None:
    number = await _warm(bot)
    names = ["x"] * LABELS_PER_COMMAND + ["needs-docs"]  # duplicates count once: needs-docs is within
    await _run(bot, number, COLLAB, "/remove-label " + " ".join(f"y{i}" for i in range(LABELS_PER_COMMAND))
               + " needs-docs")
    assert "needs-docs" in bot.fake.labels(REPO, number)  # the 21st name: left out
    await _run(bot, number, COLLAB, "/remove-label " + " ".join(names))
    assert "needs-docs" not in bot.fake.labels(REPO, number)


async def test_test_of_many_names_starts_at_most_one_pipeline(bot: Bot) -> None:
    number = await _warm(bot)
    spellings = ["pipeline", "Pipeline", "PIPELINE", "pipeLine"]
    calls = await _run(bot, number, COLLAB, "/test " + " ".join(spellings + [f"job{i}" for i in range(1_000)]))
    if bot.fake.name == "gitlab":
        assert len(bot.fake.pipeline_actions(REPO)) == 1
    assert len(calls) <= JOBS_PER_COMMAND * 2 + 6, [f"{c.method} {c.path}" for c in calls]
    replies = bot.bot_comments(number)
    assert any(f"at most {JOBS_PER_COMMAND} jobs" in r for r in replies), replies


@pytest.mark.parametrize("body", [
    "/label `` @alice @bob ``",
    "/label ``` @alice ``` @bob `",
    "/kind @alice\n/cc @acme/devs @bob",
], ids=["double backtick", "triple backtick", "plain mentions"])
async def test_echoed_text_mentions_nobody(bot: Bot, body: str) -> None:
    number = await _warm(bot)
    await _run(bot, number, OUTSIDER, body)
    replies = bot.bot_comments(number)
    assert replies
    for reply in replies:
        assert _mentioned(reply) == {OUTSIDER}, reply
        assert f"@{ZWJ}alice" in reply or f"@{ZWJ}bob" in reply


async def test_reply_to_a_huge_command_line_is_posted_within_the_limit(bot: Bot) -> None:
    number = await _warm(bot)
    await _run(bot, number, COLLAB, "/label " + "x" * 1_000_000)
    (reply,) = bot.bot_comments(number)
    assert len(reply) <= MAX_COMMENT[bot.fake.name]
    assert reply.startswith(f"@{COLLAB}: ") and "more characters)" in reply

"""/why on both forges: every reason a PR/MR waits, its place in the merge pool, or that merge
automation is off — in one reply, and without writing anything else."""

from __future__ import annotations

from typing import Any

import pytest

from bot.app import MERGE_KEY
from bot.events import ItemKind
from tests.conftest import AUTHOR, REPO, Bot

READY = ["lgtm", "approved"]


@pytest.fixture
def config_data(request: pytest.FixtureRequest) -> dict[str, Any]:
    if request.node.get_closest_marker("merge_off"):
        return {}
    return {"merge": {"sync_interval": 3600}}  # passes come from events and the tests


def pull_kind(bot: Bot) -> dict[str, Any]:
    return {"kind": ItemKind.PULL} if bot.fake.name == "gitlab" else {}


async def settle(bot: Bot) -> None:
    """Let the passes that events started finish, then run one more: the forge is as a pass
    leaves it (labels set by the tests take effect), so /why's reply races nothing."""
    if MERGE_KEY in bot.client.app:
        merger = bot.client.app[MERGE_KEY]
        await merger.idle()
        await merger.sync(bot.fake.name, REPO)


async def opened(bot: Bot, labels: list[str], *, computing: bool = False) -> int:
    """A PR/MR with these labels (after the pass its opening started); ``computing``: the forge has
    not yet worked out whether it can merge it, so a ready one waits in the pool."""
    number, delivery = bot.fake.open_pull(REPO, author=AUTHOR)
    await bot.deliver(delivery)
    await settle(bot)
    if computing:
        fake: Any = bot.fake
        fake.set_mergeable(REPO, number, "unknown" if fake.name == "github" else "checking")
    bot.fake.set_labels(REPO, number, labels, **pull_kind(bot))
    return number


def fail_check(bot: Bot, number: int, name: str) -> None:
    fake: Any = bot.fake
    sha = fake.head_sha(REPO, number)
    if fake.name == "github":
        fake.add_check_run(REPO, sha, name, "completed", "failure")
    else:
        fake.add_status(REPO, sha, name, "failed")


def bot_comments(bot: Bot, number: int) -> list[str]:
    fake: Any = bot.fake
    return [body for author, body in fake.comments(REPO, number, **pull_kind(bot)) if author == fake.bot_login]


async def why(bot: Bot, number: int) -> str:
    fake: Any = bot.fake
    await settle(bot)
    before = len(bot_comments(bot, number))
    writes = _writes(bot)
    await bot.deliver(fake.comment(REPO, number, "zed", "/why", **pull_kind(bot)))  # anyone may ask
    await settle(bot)
    comments = bot_comments(bot, number)
    assert len(comments) == before + 1, comments
    # One reply and nothing else: no label, status or merge.
    assert _writes(bot)[len(writes):] == [("POST", "comment")]
    return comments[-1]


def _writes(bot: Bot) -> list[tuple[str, str]]:
    writes = []
    for r in bot.fake.requests:
        if r.method != "GET" and r.path != "/api/graphql":  # a GraphQL query (GitHub's PR listing) reads
            writes.append((r.method, "comment" if r.path.endswith(("/comments", "/notes")) else r.path))
    return writes


async def test_every_blocker_is_listed_with_its_cure(bot: Bot) -> None:
    fake: Any = bot.fake
    blocker, _ = fake.open_issue(REPO, author="carl", title="Release freeze")
    fake.set_labels(REPO, blocker, ["merge-blocker"], **({"kind": ItemKind.ISSUE} if fake.name == "gitlab" else {}))
    number = await opened(bot, ["lgtm", "do-not-merge/hold"])
    fail_check(bot, number, "unit")
    reply = await why(bot, number)
    noun = "pull request" if fake.name == "github" else "merge request"
    assert f"this {noun} is not merging yet:" in reply
    listed = [line for line in reply.splitlines() if line.startswith("- ")]
    assert listed == [
        f"- Blocked by issue #{blocker} — close it or remove the merge-blocker label from it",
        "- Needs approved label — an approver writes /approve",
        "- Should not have do-not-merge/hold label — `/hold cancel`",
        "- Job unit has not succeeded (failure) — `/retest`",
    ]


async def test_hold_is_shown_with_hold_cancel_and_lifting_it_merges(bot: Bot) -> None:
    number = await opened(bot, READY + ["do-not-merge/hold"])
    reply = await why(bot, number)
    assert [line for line in reply.splitlines() if line.startswith("- ")] == [
        "- Should not have do-not-merge/hold label — `/hold cancel`"]
    await bot.deliver(bot.fake.comment(REPO, number, "carl", "/hold cancel", **pull_kind(bot)))
    await settle(bot)
    assert bot.fake.state(REPO, number) == "merged"
    assert "is not open" in await why(bot, number)


async def test_ready_prs_are_told_their_place_in_the_pool(bot: Bot) -> None:
    first = await opened(bot, READY, computing=True)
    second = await opened(bot, READY, computing=True)
    assert "ready: in the merge pool (position 1 on branch `main`)." in await why(bot, first)
    assert "ready: in the merge pool (position 2 on branch `main`)." in await why(bot, second)
    assert bot.fake.state(REPO, first) == "open"


@pytest.mark.merge_off
async def test_without_merge_automation_it_says_so(bot: Bot) -> None:
    number, delivery = bot.fake.open_pull(REPO, author=AUTHOR)
    await bot.deliver(delivery)
    assert "merge automation is off for this repository" in await why(bot, number)

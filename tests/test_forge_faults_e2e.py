"""Rate limits and faults are handled, not passed on: retried where repeating is harmless, waited
out where the forge asks, and a reply is never posted twice.  Signed webhooks into the app, effects
read back from the fake forges."""

from __future__ import annotations

import re
from typing import Any

from bot.app import DISPATCH_KEY
from tests.conftest import AUTHOR, COLLAB, REPO, Bot, typed


def _label_write(forge: str, number: int) -> tuple[str, str]:
    """The request that adds a label: GitHub POST .../labels, GitLab PUT on the MR."""
    if forge == "github":
        return "POST", rf"/issues/{number}/labels$"
    return "PUT", rf"/merge_requests/{number}$"


def _comment_create(forge: str, number: int) -> tuple[str, str]:
    if forge == "github":
        return "POST", rf"/issues/{number}/comments$"
    return "POST", rf"/merge_requests/{number}/notes$"


async def test_a_502_on_a_label_write_is_retried_and_the_user_sees_success(bot: Bot) -> None:
    fake = bot.fake
    number, _ = fake.open_pull(REPO, author=AUTHOR)
    method, path = _label_write(fake.name, number)
    fake.fail_next(method, path, 502, times=1)
    await bot.deliver(fake.comment(REPO, number, COLLAB, "/hold"))
    assert "do-not-merge/hold" in fake.labels(REPO, number)
    assert bot.bot_comments(number) == []  # no "please try again later"
    assert [r.status for r in fake.requests if r.method == method and "label" in r.path or
            (fake.name == "gitlab" and r.method == "PUT")] == [502, 200]


async def test_a_502_on_a_comment_that_was_saved_does_not_double_it(bot: Bot) -> None:
    fake = bot.fake
    number, _ = fake.open_pull(REPO, author=AUTHOR)
    method, path = _comment_create(fake.name, number)
    fake.fail_next(method, path, 502, times=1, effect=True)  # saved, then the answer is lost
    await bot.deliver(fake.comment(REPO, number, AUTHOR, "/lgtm"))  # the author is told they can't
    replies = bot.bot_comments(number)
    assert len(replies) == 1 and "your own" in replies[0]


async def test_a_502_on_a_comment_that_was_not_saved_posts_it_once(bot: Bot) -> None:
    fake = bot.fake
    number, _ = fake.open_pull(REPO, author=AUTHOR)
    method, path = _comment_create(fake.name, number)
    fake.fail_next(method, path, 502, times=1)
    await bot.deliver(fake.comment(REPO, number, AUTHOR, "/lgtm"))
    replies = bot.bot_comments(number)
    assert len(replies) == 1 and "your own" in replies[0]


async def test_a_429_with_retry_after_is_waited_out(bot: Bot) -> None:
    fake = bot.fake
    number, _ = fake.open_pull(REPO, author=AUTHOR)
    method, path = _label_write(fake.name, number)
    fake.fail_next(method, path, 429, times=1, retry_after=2)
    await bot.deliver(fake.comment(REPO, number, COLLAB, typed(fake.name, "/hold")))
    assert "do-not-merge/hold" in fake.labels(REPO, number)
    assert bot.bot_comments(number) == []
    assert bot.client.app  # the app ran throughout


async def test_a_label_write_that_keeps_failing_costs_one_request_per_attempt(bot: Bot) -> None:
    """Only the client's retry layer repeats a request: no SDK or transport retry under it, so a
    502 costs exactly one request per layer attempt, and the user hears of it once they are spent."""
    fake = bot.fake
    number, _ = fake.open_pull(REPO, author=AUTHOR)
    method, path = _label_write(fake.name, number)
    fake.fail_next(method, path, 502, times=100)
    await bot.deliver(fake.comment(REPO, number, COLLAB, "/hold"))
    attempts = next(iter(bot.client.app[DISPATCH_KEY].forges.values())).retrying.attempts
    label_writes = [r.status for r in fake.requests if r.method == method and re.search(path, r.path)]
    assert label_writes == [502] * attempts
    assert "do-not-merge/hold" not in fake.labels(REPO, number)
    [reply] = bot.bot_comments(number)
    assert "try again later" in reply


async def test_a_502_listing_the_forges_own_ci_is_retried_and_the_rerun_happens_once(bot: Bot) -> None:
    """The forge's native CI goes through the same layers: its read is retried, its re-run (a
    write that creates) is made once."""
    fake: Any = bot.fake
    number, _ = fake.open_pull(REPO, author=AUTHOR)
    sha = fake.head_sha(REPO, number)
    if fake.name == "github":
        failed = fake.add_workflow_run(REPO, sha, "CI", "failure")
        fake.fail_next("GET", r"/actions/runs$", 502, times=1)
    else:
        failed = fake.add_pipeline(REPO, number, sha, "failed")
        fake.fail_next("GET", rf"/merge_requests/{number}/pipelines$", 502, times=1)
    await bot.deliver(fake.comment(REPO, number, COLLAB, "/retest"))
    if fake.name == "github":
        assert fake.reruns(REPO) == [(failed, "rerun-failed-jobs")]
    else:
        assert fake.pipeline_actions(REPO) == [(failed, "retry")]
    assert not any("try again" in body for body in bot.bot_comments(number))
    metering = next(iter(bot.client.app[DISPATCH_KEY].forges.values())).metering
    assert metering.failures["native_ci_read"] == 0 and metering.calls["native_ci_rerun"] == 1

"""What a merge pass costs, counted on the fakes (deterministic): a warm pass reads no PR one by
one, and mergeability the forge is still computing is asked for only where it can matter."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.conftest import AUTHOR, REPO, Bot
from tests.test_merge_e2e import READY, add_failing_check, pull_kind, sync

ONE_PR = re.compile(r"/(pulls|merge_requests)/\d+$|/statuses|/status$|/check-runs")


@pytest.fixture
def config_data() -> dict[str, Any]:
    return {"merge": {"sync_interval": 3600, "status_writes_per_pass": 1000}}


async def test_a_warm_pass_over_many_prs_reads_none_of_them_one_by_one(bot: Bot) -> None:
    fake: Any = bot.fake
    numbers = [fake.open_pull(REPO, author=AUTHOR)[0] for _ in range(120)]  # two pages
    for number in numbers[::4]:  # labelled, held back by a failing check
        fake.set_labels(REPO, number, READY, **pull_kind(bot))
        add_failing_check(bot, number)
    await sync(bot)  # writes every merge status
    await sync(bot)  # lists those writes (GitLab's list pages change with them)
    before = len(fake.requests)
    await sync(bot)
    warm = fake.requests[before:]
    assert not [r for r in warm if ONE_PR.search(r.path)]
    assert not [r for r in warm if r.method != "GET" and r.path != "/api/graphql"]  # nothing written
    # GitHub: two GraphQL queries (counted; they bring statuses), the blocker issues unchanged (304).
    # GitLab: two list pages and the blocker issues, all unchanged (304s; GitLab still counts them).
    counted = sum(1 for r in warm if r.counted)
    assert (counted, len(warm)) == ((2, 3) if fake.name == "github" else (0, 3))


async def test_mergeability_still_computing_is_read_only_for_prs_whose_labels_qualify(bot: Bot) -> None:
    fake: Any = bot.fake
    labelled, other = (fake.open_pull(REPO, author=AUTHOR)[0] for _ in range(2))
    fake.set_labels(REPO, labelled, READY, **pull_kind(bot))
    add_failing_check(bot, labelled)
    for number in (labelled, other):
        fake.set_mergeable(REPO, number, "unknown" if fake.name == "github" else "unchecked")
    before = len(fake.requests)
    await sync(bot)
    read = {int(m.group(2)) for r in fake.requests[before:]
            if r.method == "GET" and (m := re.search(r"/(pulls|merge_requests)/(\d+)$", r.path))}
    assert read == {labelled}

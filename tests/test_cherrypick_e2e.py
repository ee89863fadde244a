"""/cherrypick on both forges, as Prow's cherrypicker: a merged PR/MR's change lands on a new branch
onto the target branch with a PR/MR opened from it — at once when merged, at the merge when asked
before — or the reply names the conflicting files; unknown branches and outsiders are refused.

The fakes serve each repository over git's smart HTTP protocol (tests/fakes/git.py), so the bot's
git really fetches, cherry-picks and pushes; results are read back through the real SDK clients.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from bot.forge.base import NotFoundError
from plugins.cherrypick import title_for
from tests.conftest import AUTHOR, COLLAB, OUTSIDER, REPO, Bot, make_client

RELEASE = "release-1.0"


@pytest.fixture
def config_data() -> dict[str, Any]:
    return {"plugins": {"enabled": ["cherrypick"]}}


@dataclass(frozen=True)
class Case:
    name: str
    body: str
    merged_first: bool = True  # merged before the command, else merged after it
    actor: str = COLLAB
    conflict: bool = False  # the release branch already has feature.txt, differently
    picked: bool = True  # a PR/MR onto the release branch holds the change afterwards
    reply: str | None = None  # in the bot's last comment


CASES = [
    Case("already merged: picked at once", f"/cherrypick {RELEASE}", reply="created: "),
    Case("Prow's other spelling", f"/cherry-pick {RELEASE}", reply="created: "),
    Case("asked before the merge: picked at the merge", f"/cherrypick {RELEASE}", merged_first=False,
         reply="created: "),
    Case("conflict names the file", f"/cherrypick {RELEASE}", conflict=True, picked=False,
         reply="failed to apply on top of branch `release-1.0`; these files conflict:\n```\nfeature.txt\n```"),
    Case("unknown branch", "/cherrypick release-9", picked=False, reply="cannot checkout `release-9`"),
    # Told at once, and again at the merge (the branch might have been made in between).
    Case("unknown branch before the merge", "/cherrypick release-9", merged_first=False, picked=False,
         reply="cannot checkout `release-9`: there is no such branch."),
    Case("outsider refused", f"/cherrypick {RELEASE}", actor=OUTSIDER, picked=False,
         reply="only `acme` org members may request cherry picks"),
    Case("outsider asking before the merge: nothing at the merge", f"/cherrypick {RELEASE}", merged_first=False,
         actor=OUTSIDER, picked=False, reply="only `acme` org members may request cherry picks"),
    Case("its own base branch", "/cherrypick main", picked=False,
         reply="I cannot cherry-pick the present"),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
async def test_cherrypick(bot: Bot, case: Case) -> None:
    fake: Any = bot.fake
    fake.enable_git(REPO)
    fake.set_file(REPO, "notes.txt", "release notes\n", branch=RELEASE)
    fake.set_file(REPO, "README", "hello\n")  # on main after the release branch left it
    if case.conflict:
        fake.set_file(REPO, "feature.txt", "something else\n", branch=RELEASE)
    number, opened = fake.open_pull(REPO, author=AUTHOR, title="Add the feature")
    fake.set_file(REPO, "feature.txt", "the feature\n", branch=fake.head_branch(REPO, number))
    await bot.deliver(opened)
    if case.merged_first:
        await bot.deliver(fake.merge(REPO, number, COLLAB))
    await bot.deliver(fake.comment(REPO, number, case.actor, case.body))
    if not case.merged_first:
        await bot.deliver(fake.merge(REPO, number, COLLAB))

    client = make_client(fake)
    picks = [p.item for p in client.list_open_pulls(REPO) if p.item.base_ref == RELEASE]
    if case.picked:
        assert len(picks) == 1, picks
        pick = picks[0]
        assert pick.title == f"[{RELEASE}] Add the feature"
        assert pick.assignees == {case.actor}
        sha = client.branch_sha(REPO, f"cherry-pick-{number}-to-{RELEASE}")
        assert pick.head_sha == sha
        # The change, on top of the release branch (its own file kept), and nothing of main's.
        assert client.read_file(REPO, "feature.txt", sha) == "the feature\n"
        assert client.read_file(REPO, "notes.txt", sha) == "release notes\n"
        assert client.read_file(REPO, "README", sha) is None
        assert pick.url and pick.url in bot.bot_comments(number)[-1]
    else:
        assert picks == []
        with pytest.raises(NotFoundError):
            client.branch_sha(REPO, f"cherry-pick-{number}-to-{RELEASE}")
    if case.reply:
        assert case.reply in bot.bot_comments(number)[-1]


async def test_asking_again_links_the_same_pull(bot: Bot) -> None:
    fake: Any = bot.fake
    fake.enable_git(REPO)
    fake.set_file(REPO, "notes.txt", "release notes\n", branch=RELEASE)
    number, opened = fake.open_pull(REPO, author=AUTHOR)
    fake.set_file(REPO, "feature.txt", "the feature\n", branch=fake.head_branch(REPO, number))
    await bot.deliver(opened)
    await bot.deliver(fake.merge(REPO, number, COLLAB))
    await bot.deliver(fake.comment(REPO, number, COLLAB, f"/cherrypick {RELEASE}"))
    await bot.deliver(fake.comment(REPO, number, COLLAB, f"/cherrypick {RELEASE}"))

    picks = [p.item for p in make_client(fake).list_open_pulls(REPO) if p.item.base_ref == RELEASE]
    assert len(picks) == 1
    replies = bot.bot_comments(number)
    assert len(replies) == 2 and all(f"created: {picks[0].url}" in r for r in replies)


@pytest.mark.parametrize(
    ("title", "expected"),
    [
        pytest.param("Fix it", "[release-1.0] Fix it", id="plain"),
        pytest.param("[main] Fix it", "[release-1.0] Fix it", id="backport-of-a-backport"),
        pytest.param("Fix [other] it", "[release-1.0] Fix [other] it", id="other-brackets-kept"),
    ],
)
def test_title(title: str, expected: str) -> None:
    assert title_for(title, "main", RELEASE) == expected

"""Every core command, on both forges: a signed webhook in, effects read back from the fake forge."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from tests.conftest import AUTHOR, COLLAB, OTHER, OUTSIDER, REPO, Bot, typed


@dataclass(frozen=True)
class Case:
    name: str
    steps: list[tuple[str, str]]  # (who comments, what they write), in order
    labels: set[str] | None = None  # exact labels afterwards (None: not checked)
    reply: str | None = None  # substring of the bot's last reply; None: the bot must not comment
    on_issue: bool = False
    seed_labels: list[str] = field(default_factory=list)
    assignees: set[str] | None = None
    reviewers: set[str] | None = None
    state: str | None = None


CASES = [
    # lgtm
    Case("lgtm by collaborator assigns them", [(COLLAB, "/lgtm")], labels={"lgtm"}, assignees={COLLAB}),
    Case("lgtm no-issue", [(COLLAB, "/lgtm no-issue")], labels={"lgtm"}),
    Case("lgtm is case-insensitive", [(COLLAB, "/LGTM")], labels={"lgtm"}),
    Case("lgtm by author refused", [(AUTHOR, "/lgtm")], labels=set(), reply="you cannot LGTM your own"),
    Case("lgtm by outsider refused", [(OUTSIDER, "/lgtm")], labels=set(), reply="only collaborators"),
    Case("lgtm cancel by author", [(AUTHOR, "/lgtm cancel")], seed_labels=["lgtm"], labels=set()),
    Case("remove-lgtm by collaborator", [(COLLAB, "/remove-lgtm")], seed_labels=["lgtm"], labels=set()),
    Case("lgtm cancel by outsider refused", [(OUTSIDER, "/lgtm cancel")], seed_labels=["lgtm"],
         labels={"lgtm"}, reply="only the author"),
    Case("lgtm with unknown argument", [(COLLAB, "/lgtm please")], labels=set(), reply="didn't understand"),
    Case("lgtm on an issue", [(COLLAB, "/lgtm")], on_issue=True, labels=set(), reply="only works on"),
    Case("quoted lgtm ignored", [(COLLAB, "> /lgtm")], labels=set()),
    Case("lgtm in a code block ignored", [(COLLAB, "```\n/lgtm\n```")], labels=set()),
    Case("prefixed form", [(COLLAB, "/prow-lgtm")], labels={"lgtm"}),
    # hold
    Case("hold by anyone", [(OUTSIDER, "/hold")], labels={"do-not-merge/hold"}),
    Case("hold with a reason", [(OUTSIDER, "/hold needs more tests")], labels={"do-not-merge/hold"}),
    Case("hold cancel with a reason and spacing", [(COLLAB, "/hold   cancel   tests pass now")],
         seed_labels=["do-not-merge/hold"], labels=set()),
    Case("hold cancel", [(OUTSIDER, "/hold cancel")], seed_labels=["do-not-merge/hold"], labels=set()),
    Case("unhold", [(AUTHOR, "/unhold")], seed_labels=["do-not-merge/hold"], labels=set()),
    Case("remove-hold", [(COLLAB, "/remove-hold")], seed_labels=["do-not-merge/hold"], labels=set()),
    Case("hold then cancel in order", [(COLLAB, "/hold"), (COLLAB, "/hold cancel")], labels=set()),
    Case("several commands in one comment", [(COLLAB, "/hold\n/kind bug\n/lgtm")],
         labels={"do-not-merge/hold", "kind/bug", "lgtm"}),
    # assign / cc
    Case("assign yourself", [(AUTHOR, "/assign")], assignees={AUTHOR}),
    Case("assign others as collaborator", [(COLLAB, "/assign @bob")], assignees={OTHER}),
    Case("assign several", [(COLLAB, "/assign @bob @carl")], assignees={OTHER, COLLAB}),
    Case("assign others as outsider (Prow: anyone)", [(OUTSIDER, "/assign @bob")], assignees={OTHER}),
    Case("assign a user without access", [(COLLAB, "/assign @zed")], assignees=set(), reply="couldn't assign"),
    Case("assign an invalid name is no command", [(COLLAB, "/assign @Not$Valid")], assignees=set()),
    Case("cc an invalid name is no command", [(COLLAB, "/cc @bad!name @bob")], reviewers=set()),
    Case("unassign", [(COLLAB, "/assign @bob @carl"), (COLLAB, "/unassign @bob")], assignees={COLLAB}),
    Case("unassign yourself", [(COLLAB, "/assign"), (COLLAB, "/unassign")], assignees=set()),
    Case("assign on an issue", [(COLLAB, "/assign @bob")], on_issue=True, assignees={OTHER}),
    Case("cc a collaborator", [(COLLAB, "/cc @bob")], reviewers={OTHER}),
    Case("uncc", [(COLLAB, "/cc @bob"), (COLLAB, "/uncc @bob")], reviewers=set()),
    Case("cc by outsider (Prow: anyone)", [(OUTSIDER, "/cc @bob")], reviewers={OTHER}),
    Case("uncc by outsider (Prow: anyone)", [(COLLAB, "/cc @bob"), (OUTSIDER, "/uncc @bob")], reviewers=set()),
    Case("cc a user without access", [(COLLAB, "/cc @zed")], reviewers=set(), reply="couldn't request a review"),
    # labels
    Case("label", [(COLLAB, "/label needs-docs")], labels={"needs-docs"}),
    Case("label matches case-insensitively", [(COLLAB, "/label NEEDS-DOCS")], labels={"needs-docs"}),
    Case("label applies the existing and reports the missing", [(COLLAB, "/label nope needs-docs")],
         labels={"needs-docs"}, reply="The label(s) `nope` cannot be applied, because the repository doesn't have them"),
    Case("remove-label", [(COLLAB, "/remove-label needs-docs")], seed_labels=["needs-docs"], labels=set()),
    Case("kind", [(COLLAB, "/kind bug")], labels={"kind/bug"}),
    Case("kind several", [(COLLAB, "/kind bug feature")], labels={"kind/bug", "kind/feature"}),
    Case("remove-priority without a needs-priority label in the repo", [(COLLAB, "/remove-priority critical-urgent")],
         seed_labels=["priority/critical-urgent"], labels=set()),
    Case("priority", [(COLLAB, "/priority critical-urgent")], labels={"priority/critical-urgent"}),
    Case("area", [(COLLAB, "/area api")], labels={"area/api"}),
    Case("triage", [(COLLAB, "/triage accepted")], labels={"triage/accepted"}),
    Case("sig", [(COLLAB, "/sig node")], labels={"sig/node"}),
    Case("unknown kind", [(COLLAB, "/kind nonsense")], labels=set(), reply="`kind/nonsense` cannot be applied"),
    Case("kind by outsider (Prow: anyone)", [(OUTSIDER, "/kind bug")], labels={"kind/bug"}),
    Case("label of a non-family label by outsider refused", [(OUTSIDER, "/label needs-docs")], labels=set(),
         reply="only collaborators may use it for labels other than"),
    Case("label of a family label by outsider", [(OUTSIDER, "/label kind/bug")], labels={"kind/bug"}),
    Case("triage accepted by a non-member refused", [(OUTSIDER, "/triage accepted")], labels=set(),
         reply="Only members of the acme organisation can add the label"),
    Case("remove-then-add in one comment removes", [(COLLAB, "/remove-kind bug\n/kind bug")],
         seed_labels=["kind/bug"], labels=set()),
    Case("removing absent labels", [(COLLAB, "/remove-kind feature")], labels=set(),
         reply="Those labels are not set on this"),
    Case("removing the last kind adds needs-kind", [(COLLAB, "/remove-kind bug")], seed_labels=["kind/bug"],
         labels={"needs-kind"}),
    Case("removing one of two kinds keeps the family", [(COLLAB, "/remove-kind bug")],
         seed_labels=["kind/bug", "kind/feature"], labels={"kind/feature"}),
    Case("replacing the kind in one comment adds no needs-kind", [(COLLAB, "/remove-kind bug\n/kind feature")],
         seed_labels=["kind/bug"], labels={"kind/feature"}),
    Case("adding a kind removes needs-kind", [(COLLAB, "/kind bug")], seed_labels=["needs-kind"],
         labels={"kind/bug"}),
    Case("empty kind is no command", [(COLLAB, "/kind")], labels=set()),
    Case("restricted label refused", [(COLLAB, "/label restricted-label")], labels=set(), reply="only `bob` may"),
    Case("restricted label allowed", [(OTHER, "/label restricted-label")], labels={"restricted-label"}),
    Case("label on an issue", [(COLLAB, "/kind bug")], on_issue=True, labels={"kind/bug"}),
    Case("empty label is no command", [(COLLAB, "/label")], labels=set()),
    Case("empty remove-label is no command", [(COLLAB, "/remove-label")], labels=set()),
    # state and lifecycle
    Case("close by author", [(AUTHOR, "/close")], state="closed", reply="Closed this "),
    Case("close then reopen", [(COLLAB, "/close"), (COLLAB, "/reopen")], state="open", reply="Reopened this "),
    Case("reopen an issue", [(COLLAB, "/close"), (AUTHOR, "/reopen")], on_issue=True, state="open",
         reply="Reopened this issue."),
    Case("reopen by outsider refused", [(COLLAB, "/close"), (OUTSIDER, "/reopen")], state="closed",
         reply="only the author"),
    Case("close by outsider refused", [(OUTSIDER, "/close")], state="open", reply="you can't close an active"),
    Case("close a stale issue by anyone", [(OUTSIDER, "/close")], on_issue=True, seed_labels=["lifecycle/stale"],
         state="closed", reply="Closing this issue."),
    Case("close a rotten change by anyone", [(OUTSIDER, "/close")], seed_labels=["lifecycle/rotten"],
         state="closed", reply="Closed this "),
    Case("close an issue", [(COLLAB, "/close")], on_issue=True, state="closed", reply="Closing this issue."),
    Case("close not-planned on a change refused", [(COLLAB, "/close not-planned")], state="open",
         reply="cannot be closed as not planned"),
    Case("close an already closed issue says nothing more", [(COLLAB, "/close"), (COLLAB, "/close")],
         on_issue=True, state="closed", reply="Closing this issue."),
    Case("lifecycle frozen on an issue", [(COLLAB, "/lifecycle frozen")], on_issue=True, labels={"lifecycle/frozen"}),
    Case("lifecycle frozen refused on a change", [(COLLAB, "/lifecycle frozen")], labels=set(),
         reply="The `lifecycle/frozen` label cannot be applied to"),
    Case("lifecycle active", [(OUTSIDER, "/lifecycle active")], seed_labels=["lifecycle/stale"],
         labels={"lifecycle/active"}),
    Case("lifecycle replaces the stage", [(COLLAB, "/lifecycle stale")], seed_labels=["lifecycle/frozen"],
         labels={"lifecycle/stale"}, on_issue=True),
    Case("remove-lifecycle", [(AUTHOR, "/remove-lifecycle frozen")], seed_labels=["lifecycle/frozen"], labels=set()),
    Case("lifecycle unknown stage", [(COLLAB, "/lifecycle dead")], labels=set(), reply="didn't understand"),
    Case("lifecycle by outsider (Prow: anyone)", [(OUTSIDER, "/lifecycle rotten")], labels={"lifecycle/rotten"}),
    # help and noise
    Case("help", [(OUTSIDER, "/help")], reply="| `/lgtm` |"),
    Case("help on an issue asks for help (Prow)", [(OUTSIDER, "/help")], on_issue=True, labels={"help wanted"},
         reply="This request has been marked as needing help from a contributor."),
    Case("unknown command ignored", [(COLLAB, "/frobnicate")], labels=set()),
    Case("plain comment", [(COLLAB, "looks good to me")], labels=set()),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
async def test_command(bot: Bot, case: Case) -> None:
    fake = bot.fake
    if case.on_issue:
        number, opened = fake.open_issue(REPO, author=AUTHOR)
    else:
        number, opened = fake.open_pull(REPO, author=AUTHOR)
    assert await bot.deliver(opened) in (200, 202)
    if case.seed_labels:
        fake.set_labels(REPO, number, case.seed_labels)
    for actor, body in case.steps:
        assert await bot.deliver(fake.comment(REPO, number, actor, typed(fake.name, body))) == 202

    if case.labels is not None:
        assert fake.labels(REPO, number) == case.labels
    replies = bot.bot_comments(number)
    if case.reply is None:
        assert replies == []
    else:
        assert replies, "expected a reply"
        assert case.reply in replies[-1]
        assert replies[-1].startswith(f"@{case.steps[-1][0]}: ")
    if case.assignees is not None:
        assert fake.assignees(REPO, number) == case.assignees
    if case.reviewers is not None:
        assert fake.reviewers(REPO, number) == case.reviewers
    if case.state is not None:
        assert fake.state(REPO, number) == case.state


async def test_new_commits_remove_lgtm_with_a_note(bot: Bot) -> None:
    fake = bot.fake
    number, opened = fake.open_pull(REPO, author=AUTHOR)
    await bot.deliver(opened)
    await bot.deliver(fake.comment(REPO, number, COLLAB, "/lgtm"))
    assert fake.labels(REPO, number) == {"lgtm"}
    await bot.deliver(fake.push(REPO, number, pusher=AUTHOR))
    assert fake.labels(REPO, number) == set()
    (note,) = bot.bot_comments(number)
    assert "New commits" in note


async def test_new_commits_without_lgtm_say_nothing(bot: Bot) -> None:
    fake = bot.fake
    number, opened = fake.open_pull(REPO, author=AUTHOR)
    await bot.deliver(opened)
    await bot.deliver(fake.push(REPO, number, pusher=AUTHOR))
    assert bot.bot_comments(number) == []


async def test_bots_own_comments_are_ignored(bot: Bot) -> None:
    fake = bot.fake
    number, opened = fake.open_pull(REPO, author=AUTHOR)
    await bot.deliver(opened)
    await bot.deliver(fake.comment(REPO, number, fake.bot_login, "/hold"))
    assert fake.labels(REPO, number) == set()


async def test_reply_never_starts_a_line_with_user_text(bot: Bot) -> None:
    """A user's text is quoted back; a line like "/close" inside it must not reach the forge as a
    command (GitLab would run it with the bot's rights)."""
    fake = bot.fake
    number, opened = fake.open_pull(REPO, author=AUTHOR)
    await bot.deliver(opened)
    await bot.deliver(fake.comment(REPO, number, COLLAB, typed(fake.name, "/label /close\n/kind /merge")))
    replies = bot.bot_comments(number)
    assert replies
    for reply in replies:
        for line in reply.splitlines():
            assert not line.lstrip("> \t").startswith("/"), line


async def test_commands_in_a_new_pull_request_description(bot: Bot) -> None:
    fake = bot.fake
    body = typed(fake.name, "Fixes the widget.\n\n/kind bug\n/assign @carl\n/cc @bob")
    number, opened = fake.open_pull(REPO, author=COLLAB, body=body)
    assert await bot.deliver(opened) == 202
    assert fake.labels(REPO, number) == {"kind/bug"}
    assert fake.assignees(REPO, number) == {COLLAB}
    assert fake.reviewers(REPO, number) == {OTHER}
    assert bot.bot_comments(number) == []


async def test_commands_in_a_new_issue_description(bot: Bot) -> None:
    fake = bot.fake
    number, opened = fake.open_issue(REPO, author=COLLAB, body="/kind bug")
    await bot.deliver(opened)
    assert fake.labels(REPO, number) == {"kind/bug"}


async def test_help_shows_the_form_that_works_on_this_forge(bot: Bot) -> None:
    fake = bot.fake
    number, opened = fake.open_pull(REPO, author=AUTHOR)
    await bot.deliver(opened)
    await bot.deliver(fake.comment(REPO, number, OUTSIDER, "/help"))
    (reply,) = bot.bot_comments(number)
    if fake.name == "gitlab":
        assert "| `/prow-assign [@user ...]` |" in reply and "| `/lgtm` |" in reply
        assert "GitLab runs its own quick actions" in reply
    else:
        assert "| `/assign [@user ...]` |" in reply and "prow-" not in reply

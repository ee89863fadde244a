"""Prow's trigger: who may run CI on a PR, and /test, /retest, /ok-to-test.

Jobs configured in config.yaml run on the built-in runner; without a configured job of that name,
/test and /retest go to the team's own CI (GitHub Actions re-runs, GitLab MR pipelines).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from bot.caps import JOBS_PER_COMMAND, capped, over_cap
from bot.ci.jobs import Change, JobSpec
from bot.commands import Invocation
from bot.context import Context
from bot.events import CommentEvent, Item, ItemAction, ItemEvent, ReviewEvent
from bot.forge.base import Permission
from bot.plugin import PULLS_ONLY, Command, Plugin, Rule, Subscription, arg_pattern
from bot.replies import code, listing

NEEDS_OK = "needs-ok-to-test"
OK = "ok-to-test"
LGTM = "lgtm"
START_ON = {ItemAction.OPENED, ItemAction.REOPENED, ItemAction.NEW_COMMITS, ItemAction.READY_FOR_REVIEW}


def _handles(event: ItemEvent) -> bool:
    if not event.item.is_pull:
        return False
    return (event.action in START_ON or (event.action is ItemAction.EDITED and event.base_changed)
            or (event.action is ItemAction.LABELED and bool({OK, LGTM} & event.labels_changed)))
FAILED = {"failure", "error"}


@dataclass(frozen=True)
class TriggerOptions:
    trusted_orgs: list[str] = field(default_factory=list)  # members are trusted (besides the repo's own org)
    trusted_users: list[str] = field(default_factory=list)  # e.g. bot accounts such as renovate[bot]
    # Prow's only_org_members: collaborators are not trusted for being collaborators; only members
    # of the repository's org/group and of trusted_orgs (and trusted_users) are.
    only_org_members: bool = False
    # Prow's ignore_ok_to_test: /ok-to-test does nothing and the ok-to-test label vouches for
    # nothing, so only trusted authors' changes run by themselves (a trusted user can still /test).
    ignore_ok_to_test: bool = False


async def is_trusted(ctx: Context, login: str) -> bool:
    """Org member or collaborator with write access (GitLab: Developer+), or configured as trusted."""
    return await trusted_by(ctx, login, ctx.options)


async def trusted_by(ctx: Context, login: str, options: TriggerOptions | None) -> bool:
    """``is_trusted`` with trigger's options, for other plugins (welcome) that follow its trust."""
    options = options or TriggerOptions()
    lowered = login.lower()
    if lowered in {u.lower() for u in options.trusted_users}:
        return True
    if not options.only_org_members and await ctx.permission(login) >= Permission.WRITE:
        return True
    owner = ctx.event.repo.split("/", 1)[0]
    for org in dict.fromkeys([owner, *options.trusted_orgs]):
        if await ctx.forge.is_org_member(org, login):
            return True
    return False


async def _change(ctx: Context) -> Change:
    return Change.of(ctx.forge.name, await ctx.item(), await ctx.forge.git_source(ctx.ref))


async def _start(ctx: Context, jobs: Sequence[JobSpec]) -> list[str]:
    runner = ctx.ci.runner
    if runner is None or not jobs:
        return []
    change = await _change(ctx)
    for job in jobs:
        # Once per delivery: a rerun of this event (after a crash) must not start the job again.
        if await ctx.once(f"job:{job.name}:{change.head_sha}"):
            await runner.start(job, change)
    return [job.name for job in jobs]


async def _repo_jobs(ctx: Context) -> list[JobSpec]:
    """The jobs of this repository (its .prowlet.yaml's included, where honoured).  A PR/MR that
    changes .prowlet.yaml runs the jobs its own head defines only when its author is trusted, as
    /ok-to-test would require; anyone else's runs the default branch's."""
    head = await ctx.in_repo.head_jobs(lambda login: is_trusted(ctx, login)) if ctx.in_repo else None
    if head is not None:
        return [job for job in head if job.applies_to(ctx.event.repo)]
    return ctx.ci.jobs_for(ctx.event.repo)


async def _branch_jobs(ctx: Context) -> list[JobSpec]:
    """The jobs of this repository that apply to the change's base branch (branches / skip_branches)."""
    base = (await ctx.item()).base_ref or ""
    return [job for job in await _repo_jobs(ctx) if job.could_run(base)]


async def _automatic_jobs(ctx: Context) -> list[JobSpec]:
    paths = await ctx.changed_paths()
    return [job for job in await _branch_jobs(ctx) if job.should_run(paths)]


DRAFT_SKIPPED = ("Skipping CI for Draft Pull Request.\nIf you want CI signal for your change, please convert it to "
                 "an actual PR.\nYou can still manually trigger a test run with `/test all`")


def _vouched(ctx: Context, labels: frozenset[str]) -> bool:
    """The ok-to-test label is on, and counts here (not with ignore_ok_to_test)."""
    return OK in labels and not ctx.options.ignore_ok_to_test


async def _trusted_change(ctx: Context, item: Item) -> bool:
    """Prow's TrustedPullRequest: a trusted author, or the ok-to-test label."""
    return _vouched(ctx, item.labels) or await is_trusted(ctx, item.author or "")


async def on_change(ctx: Context) -> None:
    """Prow's handlePR: what a new, reopened, updated, re-targeted or labelled PR/MR runs."""
    if not await _repo_jobs(ctx):
        return  # no built-in jobs here: nothing to gate (the forge's own CI gates itself)
    event = ctx.event
    assert isinstance(event, ItemEvent)
    item = await ctx.item()
    if item.state != "open":
        return
    if event.action is ItemAction.OPENED:
        await _opened(ctx, item)
    elif event.action is ItemAction.LABELED:
        await _labeled(ctx, item, event.labels_changed)
    elif not item.draft and await _trusted_change(ctx, item):
        # reopened, new commits, ready for review, a new base branch: the change is tested again
        if NEEDS_OK in item.labels:
            await ctx.remove_label(NEEDS_OK)  # stale: ok-to-test was added since
        await _start(ctx, await _automatic_jobs(ctx))


async def _opened(ctx: Context, item: Item) -> None:
    if await is_trusted(ctx, item.author or ""):
        if item.draft:
            await ctx.note(DRAFT_SKIPPED)
        else:
            await _start(ctx, await _automatic_jobs(ctx))
        return
    # Prow greets an untrusted author even when ok-to-test is already on (an automation may add
    # it), but asks for ok-to-test only when it is not.
    if OK not in item.labels and NEEDS_OK not in item.labels:
        await ctx.add_labels([NEEDS_OK])
    await ctx.note(
        f"Hi @{item.author}. Thanks for your {ctx.noun()}. I'm waiting for a collaborator or organisation "
        f"member to check that it is safe to test. If it is, they can comment `/ok-to-test` and I will run "
        f"the jobs. Until then nothing runs, and `/test` from you only gets this explanation."
    )


async def _labeled(ctx: Context, item: Item, added: frozenset[str]) -> None:
    """A person (the bot's own label events never arrive) added a label: ``lgtm`` on an untrusted
    change runs its jobs once; ``ok-to-test`` by hand runs them, as /ok-to-test would."""
    if item.draft:
        return
    if (OK in added and _vouched(ctx, item.labels)) or (LGTM in added and not await _trusted_change(ctx, item)):
        await _start(ctx, await _automatic_jobs(ctx))


async def _may_test(ctx: Context, inv: Invocation) -> str | None:
    """Prow: a trusted commenter, or anyone on a trusted change (trusted author, or ok-to-test)."""
    item = await ctx.item()
    if _vouched(ctx, item.labels) or await is_trusted(ctx, ctx.event.actor) or await is_trusted(ctx, item.author or ""):
        return None
    return "only trusted users (collaborators or organisation members) can start jobs before someone comments `/ok-to-test`."


async def _trusted_only(ctx: Context, inv: Invocation) -> str | None:
    if await is_trusted(ctx, ctx.event.actor):
        return None
    return "only collaborators and organisation members can vouch for a change."


TESTERS = Rule("trusted users; anyone on a PR/MR from a trusted author or with ok-to-test", _may_test)
TRUSTED = Rule("collaborators (GitLab: Developer or higher), organisation members, configured trusted users", _trusted_only)


async def ok_to_test(ctx: Context, inv: Invocation) -> None:
    if ctx.options.ignore_ok_to_test:
        return  # Prow: ignored altogether, without a reply
    labels = (await ctx.item()).labels
    if NEEDS_OK in labels:
        await ctx.remove_label(NEEDS_OK)
    if OK not in labels:
        await ctx.add_labels([OK])
    await _start(ctx, await _automatic_jobs(ctx))


async def _job_list(ctx: Context) -> str:
    jobs = await _branch_jobs(ctx)
    names = [job.name for job in jobs]
    native = ctx.ci.native.get(ctx.forge.name)
    if native is not None:
        names += await native.names(ctx.ref, (await ctx.item()).head_sha or "")
    if not names:
        return "no jobs are configured for this repository."
    return "the jobs you can run here are: " + ", ".join(code(n) for n in dict.fromkeys(names)) + \
        " (or `/test all`)."


async def _drop_stale_needs_ok(ctx: Context) -> None:
    """Prow: a trusted /test or /retest on a change with ok-to-test removes a leftover needs-ok-to-test."""
    labels = (await ctx.item()).labels
    if OK in labels and NEEDS_OK in labels:
        await ctx.remove_label(NEEDS_OK)


async def test(ctx: Context, inv: Invocation) -> None:
    await _drop_stale_needs_ok(ctx)
    # Each name may start a job or a forge pipeline: a repeated name (any case) counts once, and
    # one comment names at most JOBS_PER_COMMAND.
    wanted, left_out = capped(inv.args.split(), JOBS_PER_COMMAND)
    if not wanted:
        await ctx.reply(inv, f"which job? {await _job_list(ctx)}")
        return
    if left_out:
        await ctx.reply(inv, over_cap(left_out, JOBS_PER_COMMAND, "jobs"))
    jobs = {job.name.lower(): job for job in await _branch_jobs(ctx)}
    if [w.lower() for w in wanted] == ["all"]:
        started = await _start(ctx, await _automatic_jobs(ctx))
        if not started:
            await ctx.reply(inv, f"no job applies to this change. {await _job_list(ctx)}")
        return
    native = ctx.ci.native.get(ctx.forge.name)
    unknown = []
    for name in wanted:
        if name.lower() in jobs:
            await _start(ctx, [jobs[name.lower()]])  # named explicitly: runs whatever its file filter says
        elif native is None:
            unknown.append(name)
        elif await ctx.once(f"native:{name.lower()}"):
            if await native.run(ctx.ref, (await ctx.item()).head_sha or "", name) is None:
                unknown.append(name)
    if unknown:
        await ctx.reply(inv, f"I don't know {listing(unknown)}; {await _job_list(ctx)}")


async def retest(ctx: Context, inv: Invocation) -> None:
    await _rerun(ctx, inv, required_only=False)


async def retest_required(ctx: Context, inv: Invocation) -> None:
    await _rerun(ctx, inv, required_only=True)


async def _rerun(ctx: Context, inv: Invocation, required_only: bool) -> None:
    """Prow's /retest: failed jobs and required jobs that never ran; /retest-required: only the
    required (not optional) ones of those."""
    await _drop_stale_needs_ok(ctx)
    item = await ctx.item()
    jobs = await _automatic_jobs(ctx)
    runner = ctx.ci.runner
    again: list[JobSpec] = []
    if runner is not None:
        latest = await runner.latest(ctx.forge.name, ctx.event.repo, item.head_sha or "")
        all_jobs = await _branch_jobs(ctx)
        again = [job for job in all_jobs if job.name in latest and latest[job.name].state in FAILED]
        again += [job for job in jobs if not job.optional and job.name not in latest and job not in again]
        if required_only:
            again = [job for job in again if not job.optional]
    started = await _start(ctx, again)
    native = ctx.ci.native.get(ctx.forge.name)
    if native is not None and not required_only:  # the forge's CI does not say which of its jobs are required
        if not await ctx.once("native-retest"):
            return  # an earlier run of this event already asked the forge (and answered)
        started += await native.retest(ctx.ref, item.head_sha or "")
    if not started:
        what = "no required job has" if required_only else "nothing has"
        await ctx.reply(inv, f"{what} failed on the current commit, so there is nothing to re-run.")


async def on_trigger_phrase(ctx: Context) -> None:
    """Jobs with their own ``trigger`` regex (Prow's presubmit trigger) run on a comment matching
    it, for whoever may /test; the comment's /test commands are separate (a job they also name
    starts once)."""
    body = getattr(ctx.event, "body", "")
    triggered = [job for job in await _repo_jobs(ctx) if job.trigger is not None and job.trigger.search(body)]
    if not triggered or (await ctx.item()).state != "open":
        return
    base = (await ctx.item()).base_ref or ""
    jobs = [job for job in triggered if job.could_run(base)]
    if not jobs:
        return
    inv = Invocation("test", " ".join(job.name for job in jobs), f"/test {' '.join(job.name for job in jobs)}")
    denied = await ctx.repo_config.rule_for("test", TESTERS).check(ctx, inv)
    if denied:
        await ctx.reply(None, f"you can't run {', '.join(code(job.name) for job in jobs)}: {denied}")
        return
    await _drop_stale_needs_ok(ctx)
    await _start(ctx, jobs)


PLUGIN = Plugin(
    name="trigger",
    description="Runs CI for trusted changes and on request: /test, /retest, /ok-to-test.",
    commands=(
        Command("test", test, TESTERS, "Runs the named jobs (or GitHub workflows; on GitLab `pipeline` starts "
                "a new MR pipeline); `all` runs every job that applies; with no name, lists the jobs.",
                syntax="[job ...|all]", args=arg_pattern(r"[\w.\s-]*"), examples=("/test unit", "/test all"),
                on=PULLS_ONLY),
        Command("retest", retest, TESTERS, "Re-runs failed jobs, and required jobs that never ran.",
                examples=("/retest",), on=PULLS_ONLY),
        Command("retest-required", retest_required, TESTERS, "Re-runs failed required (not optional) jobs, "
                "and required jobs that never ran.", examples=("/retest-required",), on=PULLS_ONLY),
        Command("ok-to-test", ok_to_test, TRUSTED, "Vouches for a change from an untrusted author: its jobs may run.",
                examples=("/ok-to-test",), on=PULLS_ONLY),
    ),
    subscriptions=(
        Subscription(on_change, (ItemEvent,), _handles),
        Subscription(on_trigger_phrase, (CommentEvent, ReviewEvent), lambda e: e.item.is_pull),
    ),
    options=TriggerOptions,
)

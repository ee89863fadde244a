"""Merge what is ready, one at a time per target branch, and tell every PR why it is waiting.

A pass over a repository: list open PRs (one request per 100; on GitHub with mergeability and
statuses), blocker issues (one call), fill in mergeability the forge is still computing (for PRs
whose labels qualify), keep ``needs-rebase`` in step with conflicts, evaluate readiness (statuses
are read only for PRs whose labels already qualify, and reused while they hold a PR back:
``bot.merge.statuses``), write prowlet's merge status where its description changed (a bounded
number per pass: ``bot.merge.status_writes``), then merge the ready PRs serially per base branch
with the sha that was evaluated.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

import structlog

from bot.ci.jobs import Change
from bot.ci.services import CIServices
from bot.config import MergeSettings
from bot.forge.base import (
    CommitStatus,
    ForgeError,
    Mergeability,
    MergeMethod,
    MergeRefusedError,
    PullState,
    StatusState,
)
from bot.forge.layered import AsyncForge
from bot.merge.blocked import BlockedWatch
from bot.merge.readiness import (
    Facts,
    FullVerdict,
    MergeRules,
    Verdict,
    full_verdict,
    precheck,
    refusal_description,
    verdict,
)
from bot.merge.snapshot import build_snapshot
from bot.owners_reader import OwnersReader, changed_paths
from bot.events import Item, ItemRef
from bot.merge.state import MergeState
from bot.merge.status_writes import STATUS_BUDGET_KEEP, by_relevance
from bot.merge.statuses import StatusMemo
from bot.outcomes import JobFinished, MergeRefused, Merged
from bot.replies import has_marker, render_note, with_marker
from bot.store.base import StateStore, StoreUnavailable
from bot.store.memory import MemoryStateStore
from bot.tasks import cancel_and_wait

log = structlog.get_logger("prowlet.merge")

NEEDS_REBASE = "needs-rebase"
METHOD_LABEL = "merge-method-"  # merge-method-squash etc. override the configured method


@dataclass(frozen=True)
class PassResult:
    merged: list[int]
    ready: list[int]
    waiting: dict[int, str]
    ran: bool = True  # False: another replica held the repository's lease


@dataclass(frozen=True)
class RepoSnapshot:
    """What a pass reads of a repository before it decides."""

    pulls: list[PullState]  # open, by number, mergeability filled in
    blockers: list[int]  # open issues with the blocker label


@dataclass(frozen=True)
class Explanation:
    """``/why``'s answer about one PR/MR."""

    in_scope: bool  # False: merge automation is off for the repository
    open: bool = True
    verdict: FullVerdict | None = None
    base: str = ""
    position: int = 0  # in the merge pool on ``base``, when ready (1: merges next)


def with_rebase_label(pull: PullState) -> PullState:
    """The PR as a pass leaves its labels: ``needs-rebase`` on exactly while the forge reports a conflict."""
    labels = pull.item.labels
    if pull.mergeable is Mergeability.CONFLICT:
        labels = labels | {NEEDS_REBASE}
    elif pull.mergeable in (Mergeability.CLEAN, Mergeability.BLOCKED):
        labels = labels - {NEEDS_REBASE}
    if labels == pull.item.labels:
        return pull
    return replace(pull, item=replace(pull.item, labels=labels))


def _method(pull: PullState, default: str) -> MergeMethod:
    for label in pull.item.labels:
        if label.lower().startswith(METHOD_LABEL):
            try:
                return MergeMethod(label.lower()[len(METHOD_LABEL):])
            except ValueError:
                continue
    return MergeMethod(default)


def _about(item: Item) -> dict[str, Any]:
    """What outcomes say about the change, for notification routes and messages."""
    return {"title": item.title, "url": item.url or "", "author": item.author or "", "labels": tuple(sorted(item.labels))}


class MergeController:
    def __init__(self, settings: MergeSettings, forges: Mapping[str, AsyncForge], ci: CIServices,
                 files: OwnersReader | None = None, state: StateStore | None = None, holder: str = "prowlet",
                 publish: Callable[[object], Awaitable[None]] | None = None, blocked_after: float = 0.0) -> None:
        self.settings = settings
        self._publish = publish  # the outcome bus (Merged, MergeRefused); None: nobody listens
        self._forges = forges
        self._ci = ci
        self._files = files or OwnersReader()  # changed files cached by head sha, shared with plugins
        self._rules = MergeRules(settings.require_labels, settings.forbid_labels, settings.status_context,
                                 settings.blocker_label)
        # Scope, statuses written, mergeability, refusals, merges and the pass lease: durable, shared.
        store = state or MemoryStateStore()
        self.state = MergeState(store)
        self._statuses = StatusMemo(self.state)  # heads' statuses between passes, forgotten when CI reports
        self._heads: dict[tuple[str, str], frozenset[str]] = {}  # heads of candidates at the last pass
        # MergeBlocked after ``blocked_after`` seconds label-ready but waiting (notify.blocked_after).
        self.blocked = BlockedWatch(store, self._rules, blocked_after if publish else 0.0)
        self._holder = holder  # this process, in the pass lease
        # A pass holds the lease for this long and renews it while it runs, so a replica that dies
        # mid-pass is replaced within one sync_interval (lease + the others' half-interval tick).
        self._lease_ttl = max(5.0, settings.sync_interval / 2)
        self._locks: dict[tuple[str, str], asyncio.Lock] = {}  # one pass per repository in this process
        self._again: set[tuple[str, str]] = set()  # poked while a pass ran: run once more
        self._pending: dict[tuple[str, str], asyncio.Task[None]] = {}
        self._loop_task: asyncio.Task[None] | None = None
        # Told of each pass (forge, seconds, merged count) and each refused merge (forge): metrics.
        self.on_pass: Callable[[str, float, int], None] = lambda forge, seconds, merged: None
        self.on_refused: Callable[[str], None] = lambda forge: None

    # ---- scheduling ------------------------------------------------------------------------

    def poke(self, forge: str, repo: str) -> None:
        """An event touched this repository: remember it and run a pass soon (once, if several come)."""
        if forge not in self._forges or not self.settings.applies_to(repo):
            return
        key = (forge, repo)
        task = self._pending.get(key)
        if task is None or task.done():
            self._pending[key] = asyncio.get_running_loop().create_task(self._poked(forge, repo))
        else:
            self._again.add(key)  # the running pass may have read the state before this event

    async def commit_reported(self, forge: str, repo: str, sha: str, context: str = "") -> None:
        """CI reported on a commit without naming a PR (a commit status, a fork's check suite, a
        GitLab branch pipeline): forget what was read for it and, if it is the head of an open PR
        whose labels qualified at the last pass, pass over the repository now.  CI cannot change
        another PR's verdict (its labels, draft state, a conflict or a blocker decide it), so a
        busy repository does not pay a whole pass per status.  Not yet passed over here (a new
        replica, a restart): pass anyway.  prowlet's own merge status is news to no one."""
        if context == self.settings.status_context or not sha:
            return
        await self._statuses.forget(forge, repo, sha)
        heads = self._heads.get((forge, repo))
        if heads is None or sha in heads:
            self.poke(forge, repo)

    async def statuses_changed(self, forge: str, repo: str, sha: str) -> None:
        """CI finished on ``sha`` (an event that names its PR, which pokes on its own)."""
        await self._statuses.forget(forge, repo, sha)

    async def job_finished(self, outcome: JobFinished) -> None:
        """A built-in job of this process ended (its status is posted by then): as a CI report."""
        if not outcome.replaced:
            await self.commit_reported(outcome.forge, outcome.repo, outcome.sha, outcome.job)

    async def _poked(self, forge: str, repo: str) -> None:
        try:
            await self.state.add_repo(forge, repo)
        except StoreUnavailable as err:
            log.warning("cannot record the repository in scope", forge=forge, repo=repo, error=str(err))
        while True:
            # What this attempt covers: every poke so far (a pass here, or the lease holder's next
            # pass, asked for through the dirty mark when another replica holds the lease).
            self._again.discard((forge, repo))
            await self._guarded(forge, repo, poked=True)
            # A poke that came while the pass was letting go of its lease (after its last look at
            # ``_again``) found this task still running: it asked for one more pass, run it here.
            if (forge, repo) not in self._again:
                return

    def start(self) -> None:
        self._loop_task = asyncio.get_running_loop().create_task(self._every_interval())

    async def idle(self) -> None:
        """Wait for the passes that events started (for tests and orderly shutdown)."""
        while any(not t.done() for t in self._pending.values()):
            await asyncio.gather(*self._pending.values(), return_exceptions=True)

    async def stop(self) -> None:
        await cancel_and_wait([self._loop_task, *self._pending.values()])

    async def _every_interval(self) -> None:
        """Every half interval, pass over each repository in scope whose last pass (by any replica)
        is an interval old: replicas share the work, and one that dies is covered by the others."""
        interval = self.settings.sync_interval
        while True:
            await asyncio.sleep(interval / 2)
            try:
                repos = await self.state.repos()
            except StoreUnavailable as err:
                log.warning("cannot read the repositories in scope", error=str(err))
                continue
            for forge, repo in sorted(repos):
                if forge not in self._forges or not self.settings.applies_to(repo):
                    continue
                try:
                    last = await self.state.last_pass(forge, repo)
                except StoreUnavailable:
                    continue
                if last is None or time.time() - last >= interval * 0.9:
                    await self._guarded(forge, repo, poked=False)

    async def _guarded(self, forge: str, repo: str, poked: bool) -> None:
        try:
            await self.sync(forge, repo, poked=poked)
        except (ForgeError, StoreUnavailable) as err:
            log.warning("merge pass failed", forge=forge, repo=repo, error=str(err))
        except Exception:
            log.exception("merge pass crashed", forge=forge, repo=repo)

    # ---- one pass --------------------------------------------------------------------------

    async def sync(self, forge_name: str, repo: str, poked: bool = True) -> PassResult:
        """One pass (more while events keep asking), under the repository's lease.  When another
        replica holds it, a poked pass asks that replica for one more pass instead."""
        lock = self._locks.setdefault((forge_name, repo), asyncio.Lock())
        async with lock:
            token = await self.state.acquire(forge_name, repo, self._holder, self._lease_ttl)
            if token is None:
                if poked:
                    await self.state.mark_dirty(forge_name, repo)
                return PassResult(merged=[], ready=[], waiting={}, ran=False)
            keeper = asyncio.get_running_loop().create_task(self._keep_lease(forge_name, repo, token))
            try:
                while True:
                    self._again.discard((forge_name, repo))
                    await self.state.clear_dirty(forge_name, repo)
                    result = await self._sync(self._forges[forge_name], repo, token)
                    if (forge_name, repo) not in self._again and not await self.state.is_dirty(forge_name, repo):
                        return result
            finally:
                keeper.cancel()
                await self.state.release(forge_name, repo, self._holder)

    async def _keep_lease(self, forge: str, repo: str, token: int) -> None:
        while True:
            await asyncio.sleep(self._lease_ttl / 3)
            try:
                if await self.state.acquire(forge, repo, self._holder, self._lease_ttl) != token:
                    log.warning("merge lease lost during a pass", forge=forge, repo=repo)
                    return
            except StoreUnavailable as err:
                log.warning("cannot renew the merge lease", forge=forge, repo=repo, error=str(err))

    async def _still_holding(self, forge: str, repo: str, token: int) -> bool:
        """Fencing before a merge: the lease must still be ours, with the token this pass began with."""
        return await self.state.acquire(forge, repo, self._holder, self._lease_ttl) == token

    async def _sync(self, forge: AsyncForge, repo: str, token: int) -> PassResult:
        started = time.monotonic()
        seen = await self.gather(forge, repo)
        pulls, blockers = seen.pulls, seen.blockers
        self._heads[(forge.name, repo)] = frozenset(  # the heads whose CI can change a verdict
            p.item.head_sha for p in pulls if p.item.head_sha and precheck(p, self._rules, blockers) is None)
        verdicts: dict[int, tuple[PullState, Verdict]] = {}
        statuses: dict[int, list[CommitStatus]] = {}  # the ones read this pass, for the dashboard
        for pull in pulls:
            pull = await self._sync_rebase_label(forge, pull)
            verdicts[pull.item.ref.number] = (pull, await self._verdict(forge, repo, pull, blockers, statuses))
        await self._write_statuses(forge, repo, list(verdicts.values()))
        for pull, verdict in verdicts.values():
            await self._announce(await self.blocked.check(forge.name, repo, pull, verdict, _about(pull.item)))
        ready = [pull for pull, verdict in verdicts.values() if verdict.ready]
        merged = await self._merge_ready(forge, repo, ready, token)
        self.on_pass(forge.name, time.monotonic() - started, len(merged))
        waiting = {n: v.description for n, (_, v) in verdicts.items() if not v.ready}
        log.info("merge pass", forge=forge.name, repo=repo, open=len(pulls), ready=len(ready), merged=merged)
        await self.state.record_pass(forge.name, repo, time.monotonic() - started, len(pulls),
                                     [p.item.ref.number for p in ready], merged, waiting)
        await self.state.save_snapshot(forge.name, repo, build_snapshot(verdicts.values(), statuses, self._rules, merged))
        return PassResult(merged=merged, ready=[p.item.ref.number for p in ready], waiting=waiting)

    # ---- what a pass reads (shared with /why and prowlet simulate) --------------------------

    async def gather(self, forge: AsyncForge, repo: str) -> RepoSnapshot:
        """The open PRs (by number, mergeability filled in) and the open blocker issues: what a
        pass reads before it decides."""
        pulls = await forge.list_open_pulls(repo)
        label = self.settings.blocker_label
        blockers = await forge.open_issues_with_label(repo, label) if label else []
        pulls = await self._with_mergeability(forge, repo, pulls)
        return RepoSnapshot(sorted(pulls, key=lambda p: p.item.ref.number), blockers)

    async def facts(self, forge: AsyncForge, repo: str, pull: PullState, blockers: list[int],
                    full: bool = False) -> Facts:
        """What the verdict on ``pull`` rests on.  A pass (``full`` False) stops reading as soon as
        the first reason is known — statuses cost a call and are read only when labels, drafts and
        blockers pass; ``full`` reads everything, for every reason."""
        facts = Facts(pull, blockers)
        if not full and precheck(pull, self._rules, blockers) is not None:
            return facts
        item = pull.item
        refused = await self.state.refusal(forge.name, repo, item.ref.number, item.head_sha or "")
        if refused and not full:
            return replace(facts, statuses=(), refused=refused)
        jobs = self._ci.jobs_for(repo)
        exempt = {self.settings.status_context, *(job.status_context for job in jobs if job.optional)}
        statuses = (list(pull.statuses) if pull.statuses is not None  # the listing carried them (GitHub)
                    else await self._statuses.read(forge, repo, item.head_sha or "", exempt))
        required: list[str] = []
        stale = None
        if jobs:
            paths = changed_paths(await self._files.changed_files(forge, item.ref, item.head_sha))
            required = [job.name for job in jobs if not job.optional and job.should_run(paths, item.base_ref or "")]
            stale = await self._tested_before_last_merge(forge.name, repo, pull, required)
        optional = [job.status_context for job in jobs if job.optional]
        return Facts(pull, blockers, statuses, required, optional, refused, stale)

    async def explain(self, forge_name: str, repo: str, number: int) -> Explanation:
        """Every reason ``number`` waits, or its place in the merge pool: read as a pass reads, and
        writing nothing (``/why``)."""
        forge = self._forges.get(forge_name)
        if forge is None or not self.settings.applies_to(repo):
            return Explanation(in_scope=False)
        seen = await self.gather(forge, repo)
        pull = next((p for p in seen.pulls if p.item.ref.number == number), None)
        if pull is None:
            return Explanation(in_scope=True, open=False)
        pull = with_rebase_label(pull)
        full = full_verdict(await self.facts(forge, repo, pull, seen.blockers, full=True), self._rules)
        base = pull.item.base_ref or ""
        if not full.ready:
            return Explanation(in_scope=True, verdict=full, base=base)
        # Ready PRs merge in order of their numbers, one base branch at a time.
        ahead = 0
        for other in seen.pulls:
            if other.item.ref.number < number and other.item.base_ref == pull.item.base_ref:
                ahead += (await self._verdict(forge, repo, with_rebase_label(other), seen.blockers)).ready
        return Explanation(in_scope=True, verdict=full, base=base, position=ahead + 1)

    async def explain_all(self, forge_name: str, repo: str) -> list[tuple[PullState, FullVerdict]]:
        """The full verdict on every open PR of ``repo`` (``prowlet simulate merge``)."""
        forge = self._forges[forge_name]
        seen = await self.gather(forge, repo)
        result = []
        for pull in seen.pulls:
            pull = with_rebase_label(pull)
            result.append((pull, full_verdict(await self.facts(forge, repo, pull, seen.blockers, full=True),
                                              self._rules)))
        return result

    async def _with_mergeability(self, forge: AsyncForge, repo: str, pulls: list[PullState]) -> list[PullState]:
        """Fill in UNKNOWN mergeability (the forge is still computing it: after a push, and for
        every PR after a merge into its base), cached per head and base sha — for PRs whose labels
        qualify only: a read each for the others would cost a request per open PR after every
        merge, and the listing tells their conflicts once the forge has computed them."""
        bases: dict[str, str] = {}
        result = []
        for pull in pulls:
            if pull.mergeable is not Mergeability.UNKNOWN or precheck(pull, self._rules) is not None:
                result.append(pull)
                continue
            base = pull.item.base_ref or ""
            if base not in bases:
                bases[base] = await forge.branch_sha(repo, base)
            key = (forge.name, repo, pull.item.ref.number, pull.item.head_sha or "", bases[base])
            verdict = await self.state.mergeable(*key)
            if verdict is None:
                fresh = await forge.mergeability(pull.item.ref)
                verdict = (fresh.mergeable, fresh.reason)
                if fresh.mergeable is not Mergeability.UNKNOWN:
                    await self.state.set_mergeable(*key, verdict)
            # Only the verdict is cached: labels and the rest come from this pass's listing.
            result.append(replace(pull, mergeable=verdict[0], reason=verdict[1]))
        return result

    async def _sync_rebase_label(self, forge: AsyncForge, pull: PullState) -> PullState:
        """``needs-rebase`` is on exactly while the forge reports a conflict."""
        wanted = with_rebase_label(pull)
        if wanted.item.labels == pull.item.labels:
            return pull
        if NEEDS_REBASE in wanted.item.labels:
            await forge.add_labels(pull.item.ref, [NEEDS_REBASE])
        else:
            await forge.remove_label(pull.item.ref, NEEDS_REBASE)
        return wanted

    async def _verdict(self, forge: AsyncForge, repo: str, pull: PullState, blockers: list[int],
                       seen: dict[int, list[CommitStatus]] | None = None) -> Verdict:
        """``seen``: where a pass keeps the statuses it read, for the dashboard."""
        facts = await self.facts(forge, repo, pull, blockers)
        if seen is not None and facts.statuses is not None:
            seen[pull.item.ref.number] = list(facts.statuses)
        return verdict(facts, self._rules)

    async def _tested_before_last_merge(self, forge: str, repo: str, pull: PullState, required: list[str]) -> str | None:
        """A required built-in job whose latest run started before the last merge into this base."""
        since = await self.state.last_merge(forge, repo, pull.item.base_ref or "")
        runner = self._ci.runner
        if since is None or runner is None:
            return None
        latest = await runner.latest(forge, repo, pull.item.head_sha or "")
        return next((name for name in required if name in latest and latest[name].started_at < since), None)

    async def _write_statuses(self, forge: AsyncForge, repo: str, entries: list[tuple[PullState, Verdict]]) -> None:
        """The statuses that changed, most relevant first, at most ``status_writes_per_pass`` and
        no more than the write budget spares now (half of every window stays for commands); the
        rest are written by the passes after this one (``bot.merge.status_writes``)."""
        room = self.settings.status_writes_per_pass
        spare = await forge.pacing.gate.spare(STATUS_BUDGET_KEEP)
        if spare is not None:
            room = min(room, spare)
        ordered = by_relevance(entries, self.settings.require_labels)
        for done, (pull, verdict) in enumerate(ordered):
            if room <= 0:
                log.info("merge statuses left for the next pass", forge=forge.name, repo=repo,
                         unchecked=len(ordered) - done)
                return
            if await self._write_status(forge, repo, pull, verdict):
                room -= 1

    async def _write_status(self, forge: AsyncForge, repo: str, pull: PullState, verdict: Verdict) -> bool:
        sha = pull.item.head_sha or ""
        if await self.state.status_written(forge.name, repo, sha) == verdict.description:
            return False  # written only when it changes, also across restarts
        state = StatusState.SUCCESS if verdict.ready else StatusState.PENDING
        await forge.set_status(repo, sha, CommitStatus(self.settings.status_context, state, verdict.description))
        await self.state.set_status_written(forge.name, repo, sha, verdict.description)
        return True

    async def _merge_ready(self, forge: AsyncForge, repo: str, ready: list[PullState], token: int) -> list[int]:
        merged: list[int] = []
        retest_base: set[str] = set()
        for pull in ready:
            base = pull.item.base_ref or ""
            if base in retest_base:
                continue
            if not await self._still_holding(forge.name, repo, token):
                log.warning("merge lease lost; leaving the merges to its new holder", forge=forge.name, repo=repo)
                break
            if not await self._merge_one(forge, repo, pull):
                continue
            merged.append(pull.item.ref.number)
            await self.state.record_merge(forge.name, repo, pull.item.ref.number, pull.item.head_sha or "", base,
                                          _method(pull, self.settings.method).value)
            # Others into this base: re-run prowlet's jobs on the new base first, or merge directly.
            others = [p for p in ready if p.item.base_ref == base and p.item.ref.number not in merged]
            if await self._retest(forge, repo, others):
                retest_base.add(base)
        return merged

    async def _merge_one(self, forge: AsyncForge, repo: str, pull: PullState) -> bool:
        item = pull.item
        # Never merge blind: the head must be what was evaluated, and the forge must say yes now.  An
        # UNKNOWN verdict (still computing; GitLab waiting on a pipeline that includes our own status)
        # waits for a later pass rather than risking a refusal.
        fresh = await forge.mergeability(item.ref)
        if fresh.item.head_sha != item.head_sha or fresh.mergeable is not Mergeability.CLEAN:
            log.info("merge deferred", number=item.ref.number, mergeable=fresh.mergeable.value, reason=fresh.reason)
            return False
        try:
            await forge.merge(item.ref, item.head_sha or "", _method(pull, self.settings.method))
        except MergeRefusedError as err:
            sha = item.head_sha or ""
            await self.state.refuse(forge.name, repo, item.ref.number, sha, str(err))
            self.on_refused(forge.name)
            note = render_note(
                f"@{item.author}: I tried to merge this {forge.capabilities.pull_noun} at `{sha[:12]}` "
                f"but the forge refused: {err}\n\nI will try again once it changes (new commits or a label change).")
            await self._comment_once(forge, item.ref, note, f"refused.{item.ref.number}.{sha[:12]}")
            await self._write_status(forge, repo, pull, Verdict(False, refusal_description(str(err))))
            await self._announce(MergeRefused(forge.name, repo, item.ref.number, sha, str(err), **_about(item)))
            return False
        log.info("merged", forge=forge.name, repo=repo, number=item.ref.number, sha=item.head_sha)
        await self._announce(Merged(forge.name, repo, item.ref.number, item.head_sha or "",
                                    _method(pull, self.settings.method).value, **_about(item)))
        return True

    async def _announce(self, outcome: object | None) -> None:
        if outcome is not None and self._publish is not None:
            await self._publish(outcome)  # the bus logs its subscribers' failures: a merge never fails on them

    async def _retest(self, forge: AsyncForge, repo: str, others: list[PullState]) -> bool:
        runner, jobs = self._ci.runner, self._ci.jobs_for(repo)
        if runner is None or not jobs or not others:
            return False
        started = False
        for pull in others:
            item = pull.item
            paths = changed_paths(await self._files.changed_files(forge, item.ref, item.head_sha))
            wanted = [job for job in jobs if job.should_run(paths, item.base_ref or "")]
            if not wanted:
                continue
            change = Change.of(forge.name, item, await forge.git_source(item.ref), merge_base=True)
            for job in wanted:
                await runner.start(job, change)
            started = True
        return started

    async def _comment_once(self, forge: AsyncForge, ref: ItemRef, body: str, marker: str) -> None:
        """A refusal is said once per head, even if a crash came between the comment and the record."""
        if any(has_marker(c.body, marker) for c in await forge.list_comments(ref)):
            return
        await forge.comment(ref, with_marker(body, marker))

    async def forget_refusals(self, forge: str, repo: str, number: int) -> None:
        """A label change may be the fix for a refusal (e.g. a hold lifted): allow one more try."""
        await self.state.forget_refusals(forge, repo, number)

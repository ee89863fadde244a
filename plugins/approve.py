"""/approve: approval power follows the directory tree, written in OWNERS files (Prow's approve).

Every recomputation is stateless and idempotent: who approves is replayed from the PR's comments
and reviews, coverage is computed from OWNERS at the base branch's current head, and the result is
written as the ``approved`` label plus one status comment, edited in place.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from bot.commands import Invocation, parse_commands
from bot.context import Context
from bot.events import CommentEvent, Item, ItemAction, ItemEvent, ReviewEvent, ReviewState
from bot.forge.base import Comment, Review
from bot.owners import ApprovalState, OwnersError, compute_approval, owners_file_path
from bot.outcomes import ApprovalComplete
from bot.permissions import ANYONE, owner_of
from bot.plugin import PULLS_ONLY, Command, Plugin, Rule, Subscription, arg_pattern

LABEL = "approved"
MARKER = "<!-- prowlet:approval-status -->"  # finds our status comment among the others
RECOMPUTE_ON = {ItemAction.OPENED, ItemAction.REOPENED, ItemAction.NEW_COMMITS, ItemAction.READY_FOR_REVIEW}


@dataclass(frozen=True)
class ApproveOptions:
    require_self_approval: bool = False  # False: the author implicitly approves files they own
    review_acts_as_approve: bool = True  # a review "Approve" (GitLab: native approval) counts
    changes_requested_cancels: bool = True  # a review "Request changes" withdraws the reviewer's approval
    # Prow's lgtm_acts_as_approve: /lgtm approves (and /lgtm cancel, /remove-lgtm withdraw) as /approve does.
    lgtm_acts_as_approve: bool = False
    # Prow's issue_required: approval also needs an issue the description refers to ("Fixes #12",
    # or a link to an issue of the organisation / group), or an approver's `/approve no-issue`.
    issue_required: bool = False


_LGTM_WORDS = ("lgtm", "remove-lgtm")


def _approval_words(text: str, prefix: str, lgtm_acts: bool = False) -> list[tuple[bool, bool]]:
    """Each /approve (True) and /approve cancel or /remove-approve (False) in ``text``, in order,
    with whether it said no-issue; /lgtm and its cancels too when ``lgtm_acts``."""
    words = []
    for inv in parse_commands(text, prefix):
        args = inv.args.lower()
        if inv.name == "approve" or (lgtm_acts and inv.name == "lgtm"):
            words.append((args != "cancel", args == "no-issue"))
        elif inv.name == "remove-approve" or (lgtm_acts and inv.name == "remove-lgtm"):
            words.append((False, False))
    return words


@dataclass(frozen=True)
class Approvals:
    approvers: frozenset[str]  # who approves now (lower case)
    withdrawn: frozenset[str]  # whose last word was a withdrawal: for the author, of the implicit approval
    no_issue: frozenset[str] = frozenset()  # approvers whose approval said /approve no-issue


def approvals_from(comments: Sequence[Comment], reviews: Sequence[Review], bot: str, prefix: str,
                   options: ApproveOptions) -> Approvals:
    """Who approves now, replaying /approve, /approve cancel and reviews in time order.  A review's
    own state comes first, then the commands in its body (Prow reads a review body as a comment).
    Entries without a time (GitLab's current approvals) are the present state, so they come last."""
    # (time, order, rank within, login, approves, no-issue)
    timeline: list[tuple[str, int, int, str, bool, bool]] = []
    lgtm_acts = options.lgtm_acts_as_approve
    for order, comment in enumerate(comments):
        if comment.author.lower() == bot:
            continue
        for rank, (approves, no_issue) in enumerate(_approval_words(comment.body, prefix, lgtm_acts)):
            timeline.append((comment.created_at, order, rank, comment.author, approves, no_issue))
    for order, review in enumerate(reviews, start=len(comments)):
        when = review.submitted_at or "\uffff"
        if review.state is ReviewState.APPROVED and options.review_acts_as_approve:
            timeline.append((when, order, 0, review.author, True, False))
        elif review.state is ReviewState.CHANGES_REQUESTED and options.changes_requested_cancels:
            timeline.append((when, order, 0, review.author, False, False))
        for rank, (approves, no_issue) in enumerate(_approval_words(review.body, prefix, lgtm_acts), start=1):
            timeline.append((when, order, rank, review.author, approves, no_issue))
    last: dict[str, tuple[bool, bool]] = {}
    for _, _, _, login, approves, no_issue in sorted(timeline):
        last[login.lower()] = (approves, no_issue)
    return Approvals(frozenset(login for login, (yes, _) in last.items() if yes),
                     frozenset(login for login, (yes, _) in last.items() if not yes),
                     frozenset(login for login, (yes, no_issue) in last.items() if yes and no_issue))


def associated_issue(body: str, owner: str) -> int | None:
    """The issue a PR/MR description refers to, as Prow finds it: "#12", or a link to issue 12 of
    a repository of ``owner`` (GitHub .../owner/repo/issues/12, GitLab .../group/project/-/issues/12)."""
    pattern = rf"(?:{re.escape(owner)}/[^\s]+?/(?:-/)?issues/|#)(\d+)"
    match = re.search(pattern, body or "", re.IGNORECASE)
    return int(match.group(1)) if match else None


def _people(logins: Sequence[str]) -> str:
    return ", ".join(f"@{login}" for login in logins)


@dataclass(frozen=True)
class IssueCheck:
    """Prow's issue_required: whether the change names an issue or an approver waived it."""

    required: bool = False
    issue: int | None = None
    waived_by: tuple[str, ...] = ()  # counted approvers who said /approve no-issue

    @property
    def met(self) -> bool:
        return not self.required or self.issue is not None or bool(self.waived_by)

    def line(self, prefix_hint: str) -> str | None:
        if not self.required:
            return None
        if self.issue is not None:
            return f"Associated issue: #{self.issue}."
        if self.waived_by:
            return f"No associated issue needed: {_people(self.waived_by)} approved with `/approve no-issue`."
        return ("**Needs an associated issue**: refer to one in the description (e.g. `Fixes #123`), or an "
                f"approver can approve with `/approve no-issue`{prefix_hint}.")


def _status_text(state: ApprovalState, required: Sequence[str], noun: str, prefix_hint: str,
                 issue: IssueCheck = IssueCheck()) -> str:
    verdict = "**APPROVED**" if state.approved and issue.met else "**NOT APPROVED**"
    lines = [MARKER, f"This {noun} is {verdict}.", ""]
    lines.append(f"Approved by: {_people(state.counted)}." if state.counted else "No approvals from approvers yet.")
    if state.ignored:
        lines.append(f"Approvals that do not count (not approvers of these files): {_people(state.ignored)}.")
    if not state.approved and state.suggested:
        lines.append(f"Suggested approvers: {_people(state.suggested)} — one of them can approve with "
                     f"`/approve`{prefix_hint}.")
    if required:
        lines.append(f"Required reviewers (from OWNERS): {_people(required)}.")
    if issue.line(prefix_hint):
        lines.append(issue.line(prefix_hint) or "")
    lines += ["", "<details>", "", "OWNERS files whose approval is needed:", ""]
    for directory in state.needed:
        by = state.approved_dirs.get(directory, ())
        mark = f"approved by {_people(by)}" if by else "**needs approval**"
        lines.append(f"- `{owners_file_path(directory)}` — {mark}")
    if state.auto_approved:
        lines.append(f"- auto-approved (unowned subfolders): {', '.join(f'`{p}`' for p in state.auto_approved)}")
    lines += ["", "Approvers cancel their approval with `/approve cancel`.", "</details>"]
    return "\n".join(lines)


def _truncated_text(listed: int, total: str, noun: str) -> str:
    return (f"{MARKER}\nThis {noun} is **NOT APPROVED**: it changes {total or 'more'} files, more than the "
            f"forge's API lists ({listed}), so I cannot check that approvers of every changed file have "
            f"approved. Split it into smaller {noun}s to use approvals.")


async def recompute(ctx: Context) -> None:
    item = await ctx.item()
    if item.state != "open":
        return
    try:
        index = await ctx.owners()
    except OwnersError as err:
        await ctx.set_label(LABEL, False)
        await ctx.status_comment(MARKER, f"{MARKER}\nI can't work out approvals for this {ctx.noun()}: the OWNERS "
                                         f"file `{err.path}` on the base branch is invalid: {err.message}\n\n"
                                         "Once it is fixed, any `/approve` will update this.")
        return
    paths = await ctx.changed_paths()
    if not index.has_approvers(paths):
        return  # no OWNERS govern these files: nothing to approve against, and nothing to say
    bot = (await ctx.forge.whoami()).lower()
    files = await ctx.changed_files()
    if not files.complete:
        # Prow's bypass: approvals computed from the listed part would skip the files left out.
        text = _truncated_text(len(files), files.total, ctx.noun())
        if not await _kept_manual_override(ctx, item, bot, text):
            await ctx.set_label(LABEL, False)
            await ctx.status_comment(MARKER, text)
        return
    comments, reviews = await ctx.forge.comments_and_reviews(ctx.ref)
    prefix = ctx.repo_config.prefix
    hint = f" (on GitLab also `/{prefix}approve`)" if prefix and ctx.forge.capabilities.consumes_quick_actions else ""
    approvals = approvals_from(comments, reviews, bot, prefix, ctx.options)
    author = item.author or ""
    # The author withdraws their implicit approval with /approve cancel, as in Prow.
    self_withdrawn = author.lower() in approvals.withdrawn
    state = compute_approval(index, paths, approvals.approvers, author,
                             require_self_approval=ctx.options.require_self_approval or self_withdrawn,
                             seed=ctx.ref.number)
    required = sorted(index.required_reviewers_for(paths))
    issue = IssueCheck(ctx.options.issue_required, associated_issue(item.body, owner_of(ctx.event.repo)),
                       tuple(sorted(set(state.counted) & approvals.no_issue)))
    approved = state.approved and issue.met
    text = _status_text(state, required, ctx.noun(), hint, issue)
    if not approved and await _kept_manual_override(ctx, item, bot, text, comments):
        return
    await ctx.set_label(LABEL, approved)
    if approved and LABEL not in item.labels:  # it became approved just now
        await ctx.announce(ApprovalComplete, approvers=tuple(sorted(state.counted)))
    await ctx.status_comment(MARKER, text, comments, bot)


async def _kept_manual_override(ctx: Context, item: Item, bot: str, text: str,
                                comments: Sequence[Comment] | None = None) -> bool:
    """Prow: an `approved` label a person added by hand bypasses the approval requirements.  It is
    kept, and the status comment says so.  Asked only when the label is there without approval."""
    if LABEL not in item.labels:
        return False
    adder = await ctx.forge.label_added_by(ctx.ref, LABEL)
    if adder is None or adder.lower() == bot:
        return False
    without = text.removeprefix(MARKER + "\n")
    note = (f"{MARKER}\nThis {ctx.noun()} is **APPROVED** by hand: @{adder} added the `{LABEL}` label, which "
            f"bypasses the approval requirements (removing the label ends the override). Without it:\n\n{without}")
    await ctx.status_comment(MARKER, note, comments, bot)
    return True


async def on_command(ctx: Context, inv: Invocation) -> None:
    await recompute(ctx)


async def on_lgtm_comment(ctx: Context) -> None:
    """With lgtm_acts_as_approve, /lgtm and its cancels change approvals: recompute, unless an
    approve command in the same comment does it anyway."""
    names = {inv.name for inv in ctx.invocations}
    if ctx.options.lgtm_acts_as_approve and names & set(_LGTM_WORDS) and not names & {"approve", "remove-approve"}:
        await recompute(ctx)


async def _approver_check(ctx: Context, inv: Invocation) -> str | None:
    try:
        index = await ctx.owners()
    except OwnersError:
        return None  # recompute explains the invalid file in the status comment
    paths = await ctx.changed_paths()
    if not index.has_approvers(paths):
        return ("no OWNERS file names approvers for the files this changes, so there is nothing to approve "
                "against. Add an `OWNERS` file listing `approvers:` (Prow's format) to use approvals here.")
    actor = ctx.event.actor.lower()
    if any(actor in index.approvers_for(p) for p in paths):
        return None
    return "only approvers listed in the OWNERS files of the changed files may approve; the status comment suggests some."


APPROVERS = Rule("approvers in the OWNERS files of the changed files", _approver_check)


def _approved_label_changed(event: ItemEvent) -> bool:
    """A person added or removed `approved` by hand (the bot's own label events never arrive)."""
    return event.action in (ItemAction.LABELED, ItemAction.UNLABELED) and LABEL in event.labels_changed


PLUGIN = Plugin(
    name="approve",
    description="Adds the approved label once approvers from the OWNERS files of every changed directory "
                "have approved; keeps a status comment up to date.",
    commands=(
        Command("approve", on_command, APPROVERS, "Approves the change for the OWNERS files you are an approver in.",
                syntax="[no-issue]", args=arg_pattern("(no-issue)?"), examples=("/approve",), on=PULLS_ONLY),
        Command("approve", on_command, ANYONE, "Withdraws your approval.", syntax="cancel",
                args=arg_pattern("cancel"), examples=("/approve cancel",), on=PULLS_ONLY),
        Command("remove-approve", on_command, ANYONE, "Withdraws your approval.",
                examples=("/remove-approve",), on=PULLS_ONLY),
    ),
    subscriptions=(
        Subscription(recompute, (ReviewEvent,)),
        Subscription(on_lgtm_comment, (CommentEvent,), lambda e: e.item.is_pull),
        Subscription(recompute, (ItemEvent,), lambda e: e.action in RECOMPUTE_ON or _approved_label_changed(e)),
    ),
    options=ApproveOptions,
)

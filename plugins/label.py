"""/label, /remove-label and the family shortcuts (/kind bug → kind/bug), as Prow's label plugin.

The item's labels are read once per comment, so every label command in it works from the same
state (``/remove-kind bug`` then ``/kind bug`` in one comment removes kind/bug, as in Prow).
Existing labels of a list are applied and only the missing ones reported.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from bot.caps import LABELS_PER_COMMAND, capped, over_cap
from bot.commands import Invocation
from bot.context import Context
from bot.events import ItemAction, ItemEvent
from bot.forge.base import ForgeError
from bot.owners import OwnersError
from bot.permissions import ANYONE, COLLAB_NOTE, COLLABORATOR_LEVEL, is_org_member, owner_of
from bot.plugin import Command, Plugin, Rule, Subscription, arg_pattern
from bot.replies import code, listing

PREFIXES = ("kind", "priority", "area", "triage", "sig")
# Families whose last label going adds needs-<family>, when the repository has that label (Prow).
NEEDS_FAMILIES = ("kind", "priority", "sig", "triage")
TRIAGE_ACCEPTED = "triage/accepted"  # only organisation members may add it (Prow)
ANY_ARGS = arg_pattern(r".*")  # an empty command is no command: silence, as in Prow


@dataclass(frozen=True)
class AssignOn:
    label: str = ""


@dataclass(frozen=True)
class RestrictedLabel:
    """Prow's restricted_labels entry: who may add or remove ``label``, and whom to assign when
    one of ``assign_on`` is added to a PR/MR."""

    label: str = ""
    allowed_users: list[str] = field(default_factory=list)
    # teams of the repository's organisation (GitHub team slugs; GitLab: subgroups <group>/<team>)
    allowed_teams: list[str] = field(default_factory=list)
    assign_on: list[AssignOn] = field(default_factory=list)
    # On a PR/MR, an OWNERS approver of every file it changes may add or remove the label too.
    allow_approvers_from_owners: bool = False
    # New commits on a PR/MR remove the label (it vouched for the code as it was).
    remove_on_new_commits: bool = False

    def check(self) -> list[tuple[str, str]]:
        problems = [] if self.label.strip() else [("label", "name the restricted label")]
        return problems + [(f"assign_on[{i}].label", "name a label") for i, a in enumerate(self.assign_on)
                           if not a.label.strip()]


@dataclass(frozen=True)
class LabelOptions:
    # label → logins allowed to add or remove it; everyone else is told who may (the short form
    # of restricted_labels).
    restricted: dict[str, list[str]] = field(default_factory=dict)
    # Prow's restricted_labels: [{label, allowed_users, allowed_teams, assign_on: [{label}]}].
    restricted_labels: list[RestrictedLabel] = field(default_factory=list)
    # labels anyone may add with /label (Prow's additional_labels); other repository labels need a
    # collaborator.  kind/, priority/, area/, triage/ and sig/ labels are open to anyone.
    additional_labels: list[str] = field(default_factory=list)


def _requested(inv: Invocation, prefix: str | None) -> list[str]:
    names = inv.args.split()
    return [f"{prefix}/{n}" for n in names] if prefix else names


def _family(label: str) -> str | None:
    head, sep, _ = label.partition("/")
    return head.lower() if sep and head.lower() in PREFIXES else None


def _lower(labels: Iterable[str]) -> set[str]:
    return {label.lower() for label in labels}


async def _label_rule(ctx: Context, inv: Invocation) -> str | None:
    """Anyone may /label a family label or one of ``additional_labels``; other labels need a collaborator."""
    # restricted labels have their own check (their allowed users and teams), as in Prow
    open_to_all = _lower(ctx.options.additional_labels) | set(_restrictions(ctx.options))
    names = inv.args.split()
    if all(_family(n) or n.lower() in open_to_all for n in names):
        return None
    if await ctx.permission(ctx.event.actor) >= COLLABORATOR_LEVEL:
        return None
    return ("only collaborators may use it for labels other than kind/priority/area/triage/sig ones "
            "and those configured in `additional_labels`.")


LABEL_RULE = Rule(
    f"anyone for kind/priority/area/triage/sig labels and `label.additional_labels`; collaborators "
    f"{COLLAB_NOTE} for other labels", _label_rule,
)


class _Outcome:
    """What one command could not do, said in one reply."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def say(self, line: str) -> None:
        self.lines.append(line)

    async def send(self, ctx: Context, inv: Invocation) -> None:
        if self.lines:
            await ctx.reply(inv, " ".join(self.lines))


def _restrictions(options: LabelOptions) -> dict[str, RestrictedLabel]:
    """Restricted labels by lower-cased name, both forms of the option merged."""
    found = {k.lower(): RestrictedLabel(k, list(v)) for k, v in options.restricted.items()}
    for entry in options.restricted_labels:
        found[entry.label.lower()] = entry
    return found


async def _restriction(ctx: Context, label: str) -> str | None:
    rule = _restrictions(ctx.options).get(label.lower())
    if rule is None or ctx.event.actor.lower() in _lower(rule.allowed_users):
        return None
    owner = owner_of(ctx.event.repo)
    for team in rule.allowed_teams:
        if await ctx.forge.is_team_member(owner, team, ctx.event.actor):
            return None
    owners_may = rule.allow_approvers_from_owners and ctx.event.item.is_pull
    if owners_may and await _approves_every_file(ctx, ctx.event.actor):
        return None
    also = " (or an OWNERS approver of every file this change touches)" if owners_may else ""
    if not rule.allowed_teams:
        who = ", ".join(code(a) for a in rule.allowed_users) or "nobody"
        return f"only {who}{also} may add or remove the {code(label)} label."
    teams = ", ".join(code(t) for t in rule.allowed_teams)
    users = f" or one of {', '.join(code(u) for u in rule.allowed_users)}" if rule.allowed_users else ""
    return f"only members of the teams {teams}{users}{also} may add or remove the {code(label)} label."


async def _approves_every_file(ctx: Context, login: str) -> bool:
    """Whether ``login`` is an OWNERS approver of every file the PR/MR changes.  Fails closed: no
    files, a list the forge cut short, or OWNERS that cannot be read grant nothing."""
    try:
        files = await ctx.changed_files()
        if not files or not files.complete:
            return False
        index = await ctx.owners()
        paths = await ctx.changed_paths()
    except (OwnersError, ForgeError) as err:
        ctx.log.info("restricted label: OWNERS approvers unknown", error=str(err))
        return False
    return all(login.lower() in _lower(index.approvers_for(path)) for path in paths)


async def on_new_commits(ctx: Context) -> None:
    """Restricted labels with ``remove_on_new_commits`` go when the PR/MR gets new commits."""
    going = {name for name, rule in _restrictions(ctx.options).items() if rule.remove_on_new_commits}
    if not going:
        return  # no request at all where the option is not used
    for label in (await ctx.item()).labels:
        if label.lower() in going:
            await ctx.remove_label(label)


async def assign_on(ctx: Context, added: Iterable[str]) -> None:
    """Prow's assign_on: adding one of these labels to a PR/MR assigns the restricted label's
    allowed users (who can then decide on it)."""
    if not ctx.event.item.is_pull:
        return
    wanted = _lower(added)
    people: list[str] = []
    for rule in _restrictions(ctx.options).values():
        if any(a.label.lower() in wanted for a in rule.assign_on):
            people += [u for u in rule.allowed_users if u.lower() not in _lower(people)]
    if people:
        refused = await ctx.forge.add_assignees(ctx.ref, people)
        if refused:
            ctx.log.info("assign_on: some users could not be assigned", refused=sorted(refused))


async def on_labeled(ctx: Context) -> None:
    event = ctx.event
    assert isinstance(event, ItemEvent)
    await assign_on(ctx, event.labels_changed)


def _added_by_this_comment(ctx: Context) -> set[str]:
    """Labels the comment's add commands ask for (lower-cased), for the needs-* rule."""
    added: set[str] = set()
    for inv in ctx.invocations:
        if inv.name in PREFIXES:
            added |= _lower(_requested(inv, inv.name))
        elif inv.name == "label":
            added |= _lower(_requested(inv, None))
    return added


def _capped(outcome: _Outcome, wanted: Sequence[str]) -> list[str]:
    kept, left_out = capped(wanted, LABELS_PER_COMMAND)
    if left_out:
        outcome.say(over_cap(left_out, LABELS_PER_COMMAND, "labels"))
    return kept


async def add(ctx: Context, inv: Invocation, wanted: Sequence[str]) -> None:
    if not wanted:
        return
    outcome = _Outcome()
    wanted = _capped(outcome, wanted)
    existing = {label.lower(): label for label in await ctx.repo_labels(wanted)}
    current = _lower((await ctx.item()).labels)
    missing = [w for w in wanted if w.lower() not in existing]
    to_add: list[str] = []
    triage_refused = False
    for name in dict.fromkeys(existing[w.lower()] for w in wanted if w.lower() in existing):
        if name.lower() in current:
            continue
        if name.lower() == TRIAGE_ACCEPTED and not await is_org_member(ctx, ctx.event.actor):
            triage_refused = True
            continue
        refusal = await _restriction(ctx, name)
        if refusal:
            outcome.say(refusal)
            continue
        to_add.append(name)
    await ctx.add_labels(to_add)
    await assign_on(ctx, to_add)  # the bot's own label events never arrive
    # A needs-<family> label has done its job once the family has a label (Prow's
    # require-matching-label reacts to the label event; the bot's own events are not seen).
    for family in {_family(name) for name in to_add} - {None}:
        if f"needs-{family}" in current:
            await ctx.remove_label(next(lab for lab in (await ctx.item()).labels if lab.lower() == f"needs-{family}"))
    if missing:
        outcome.say(f"The label(s) {listing(missing)} cannot be applied, because the "
                    "repository doesn't have them.")
    if triage_refused:
        outcome.say(f"The label {code(TRIAGE_ACCEPTED)} cannot be applied. Only members of the "
                    f"{owner_of(ctx.event.repo)} organisation can add the label.")
    await outcome.send(ctx, inv)


async def remove(ctx: Context, inv: Invocation, wanted: Sequence[str]) -> None:
    if not wanted:
        return
    outcome = _Outcome()
    wanted = _capped(outcome, wanted)
    item = await ctx.item()
    on_item = {label.lower(): label for label in item.labels}
    absent = [w for w in dict.fromkeys(wanted) if w.lower() not in on_item]
    removed: list[str] = []
    for name in dict.fromkeys(on_item[w.lower()] for w in wanted if w.lower() in on_item):
        refusal = await _restriction(ctx, name)
        if refusal:
            outcome.say(refusal)
            continue
        removed.append(name)
    await ctx.remove_labels(removed)  # GitLab: one update for all of them
    await _add_needs_labels(ctx, removed, set(on_item))
    if absent:
        outcome.say(f"Those labels are not set on this {ctx.noun()}: {listing(absent)}.")
    await outcome.send(ctx, inv)


async def _add_needs_labels(ctx: Context, removed: Sequence[str], before: set[str]) -> None:
    """The last label of a required family going adds needs-<family>, if the repository has it."""
    gone = _lower(removed)
    added = _added_by_this_comment(ctx)
    wanted = []
    for family in NEEDS_FAMILIES:
        needs = f"needs-{family}"
        if not any(_family(g) == family for g in gone) or any(_family(a) == family for a in added):
            continue
        if all(label in gone for label in before if _family(label) == family) and needs not in before:
            wanted.append(needs)
    if wanted:
        existing = {label.lower(): label for label in await ctx.repo_labels()}
        await ctx.add_labels([existing[w] for w in wanted if w in existing])


def _adder(prefix: str | None):  # noqa: ANN202
    async def handler(ctx: Context, inv: Invocation) -> None:
        await add(ctx, inv, _requested(inv, prefix))

    return handler


def _remover(prefix: str | None):  # noqa: ANN202
    async def handler(ctx: Context, inv: Invocation) -> None:
        await remove(ctx, inv, _requested(inv, prefix))

    return handler


def _commands() -> tuple[Command, ...]:
    commands = [
        Command("label", _adder(None), LABEL_RULE, "Adds existing repository labels.", syntax="label ...",
                args=ANY_ARGS, examples=("/label needs-docs",)),
        Command("remove-label", _remover(None), LABEL_RULE, "Removes labels.", syntax="label ...",
                args=ANY_ARGS, examples=("/remove-label needs-docs",)),
    ]
    for prefix in PREFIXES:
        extra = " `triage/accepted`: organisation members only." if prefix == "triage" else ""
        commands.append(Command(prefix, _adder(prefix), ANYONE, f"Adds {prefix}/<value> labels.{extra}",
                                syntax="value ...", args=ANY_ARGS, examples=(f"/{prefix} {_EXAMPLE[prefix]}",)))
        commands.append(Command(f"remove-{prefix}", _remover(prefix), ANYONE, f"Removes {prefix}/<value> labels.",
                                syntax="value ...", args=ANY_ARGS, examples=(f"/remove-{prefix} {_EXAMPLE[prefix]}",)))
    return tuple(commands)


_EXAMPLE = {"kind": "bug", "priority": "important-soon", "area": "api", "triage": "accepted", "sig": "node"}

PLUGIN = Plugin(
    name="label",
    description="Adds and removes labels the repository already has, with kind/priority/area/triage/sig shortcuts.",
    commands=_commands(),
    subscriptions=(
        Subscription(on_labeled, (ItemEvent,), lambda e: e.action is ItemAction.LABELED),
        Subscription(on_new_commits, (ItemEvent,), lambda e: e.action is ItemAction.NEW_COMMITS and e.item.is_pull),
    ),
    options=LabelOptions,
)

"""/label, /remove-label and the prefixed shortcuts (/kind bug → kind/bug)."""

from __future__ import annotations

from dataclasses import dataclass, field

from bot.commands import Invocation
from bot.context import Context
from bot.permissions import COLLABORATORS
from bot.plugin import Command, Plugin, arg_pattern
from bot.replies import code

PREFIXES = ("kind", "priority", "area", "triage", "sig")
NAMES = arg_pattern(r"\S+(?:\s+\S+)*")


@dataclass(frozen=True)
class LabelOptions:
    # label → logins allowed to add or remove it; everyone else is told who may.
    restricted: dict[str, list[str]] = field(default_factory=dict)


def _requested(inv: Invocation, prefix: str | None) -> list[str]:
    names = inv.args.split()
    return [f"{prefix}/{n}" for n in names] if prefix else names


async def _resolve(ctx: Context, inv: Invocation, wanted: list[str]) -> list[str] | None:
    """Map requested names to the repository's labels (case-insensitively); reply and return None
    when any is missing or restricted for this user."""
    existing = {label.lower(): label for label in await ctx.repo_labels(wanted)}
    missing = [w for w in wanted if w.lower() not in existing]
    if missing:
        await ctx.reply(
            inv,
            f"the label(s) {', '.join(code(m) for m in missing)} cannot be applied, because this repository "
            "doesn't have them.",
        )
        return None
    resolved = [existing[w.lower()] for w in wanted]
    restricted = {k.lower(): v for k, v in ctx.options.restricted.items()}
    actor = ctx.event.actor.lower()
    for label in resolved:
        allowed = restricted.get(label.lower())
        if allowed is not None and actor not in {a.lower() for a in allowed}:
            who = ", ".join(code(a) for a in allowed) or "nobody"
            await ctx.reply(inv, f"only {who} may add or remove the {code(label)} label.")
            return None
    return resolved


def _adder(prefix: str | None):  # noqa: ANN202
    async def handler(ctx: Context, inv: Invocation) -> None:
        labels = await _resolve(ctx, inv, _requested(inv, prefix))
        if labels:
            await ctx.add_labels(labels)

    return handler


def _remover(prefix: str | None):  # noqa: ANN202
    async def handler(ctx: Context, inv: Invocation) -> None:
        labels = await _resolve(ctx, inv, _requested(inv, prefix))
        for label in labels or ():
            await ctx.remove_label(label)

    return handler


def _commands() -> tuple[Command, ...]:
    commands = [
        Command("label", _adder(None), COLLABORATORS, "Adds existing repository labels.", syntax="label ...",
                args=NAMES, examples=("/label needs-docs",)),
        Command("remove-label", _remover(None), COLLABORATORS, "Removes labels.", syntax="label ...",
                args=NAMES, examples=("/remove-label needs-docs",)),
    ]
    for prefix in PREFIXES:
        commands.append(Command(prefix, _adder(prefix), COLLABORATORS, f"Adds {prefix}/<value> labels.",
                                syntax="value ...", args=NAMES, examples=(f"/{prefix} {_EXAMPLE[prefix]}",)))
        commands.append(Command(f"remove-{prefix}", _remover(prefix), COLLABORATORS, f"Removes {prefix}/<value> labels.",
                                syntax="value ...", args=NAMES, examples=(f"/remove-{prefix} {_EXAMPLE[prefix]}",)))
    return tuple(commands)


_EXAMPLE = {"kind": "bug", "priority": "important-soon", "area": "api", "triage": "accepted", "sig": "node"}

PLUGIN = Plugin(
    name="label",
    description="Adds and removes labels the repository already has, with kind/priority/area/triage/sig shortcuts.",
    commands=_commands(),
    options=LabelOptions,
)

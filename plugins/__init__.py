"""The core plugins.  The registry is this explicit list; its order is the order plugins run in."""

from bot.plugin import Plugin
from plugins import (
    approve,
    assign,
    blunderbuss,
    cherrypick,
    help,
    hold,
    label,
    lgtm,
    lifecycle,
    milestone,
    override,
    owners_label,
    release_note,
    require_matching_label,
    retitle,
    size,
    skip,
    trigger,
    verify_config,
    verify_owners,
    welcome,
    why,
    wip,
)

REGISTRY: list[Plugin] = [
    help.PLUGIN,
    lgtm.PLUGIN,
    hold.PLUGIN,
    assign.PLUGIN,
    label.PLUGIN,
    lifecycle.PLUGIN,
    verify_owners.PLUGIN,
    verify_config.PLUGIN,
    owners_label.PLUGIN,
    approve.PLUGIN,
    blunderbuss.PLUGIN,
    trigger.PLUGIN,
    retitle.PLUGIN,
    milestone.PLUGIN,
    skip.PLUGIN,
    override.PLUGIN,
    why.PLUGIN,
    # opt-in (name them in plugins.enabled)
    wip.PLUGIN,
    size.PLUGIN,
    welcome.PLUGIN,
    release_note.PLUGIN,
    cherrypick.PLUGIN,
    require_matching_label.PLUGIN,  # after the label commands, so it sees what they did
]


def check_registry(registry: list[Plugin]) -> None:
    """Each command name belongs to exactly one plugin; plugin names are unique."""
    owners: dict[str, str] = {}
    names = [p.name for p in registry]
    if len(set(names)) != len(names):
        raise ValueError(f"duplicate plugin names in {names}")
    for plugin in registry:
        for cmd in plugin.commands:
            owner = owners.setdefault(cmd.name, plugin.name)
            if owner != plugin.name:
                raise ValueError(f"/{cmd.name} is declared by both {owner} and {plugin.name}")


check_registry(REGISTRY)

"""Label writes to one item, coalesced: what several queued ``add_labels`` / ``remove_label`` /
``remove_labels`` calls amount to, so that the write pacing (``bot.forge.layers.Pacing``) can send
them as one ``change_labels`` call when the write budget makes them wait.  Pure: no I/O."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

# The interface's label writes, and whether each adds (True) or removes (False) its labels.
LABEL_WRITES: dict[str, bool] = {"add_labels": True, "remove_label": False, "remove_labels": False}


@dataclass(frozen=True)
class LabelChange:
    """Labels to add and labels to remove (disjoint), in the order they were first named."""

    add: tuple[str, ...] = ()
    remove: tuple[str, ...] = ()


def label_writes(method: str, arguments: Mapping[str, Any]) -> list[tuple[str, bool]] | None:
    """The (label, wanted) steps of one interface call, or None when it is no label write."""
    adds = LABEL_WRITES.get(method)
    if adds is None:
        return None
    labels: Sequence[str] = [arguments["label"]] if method == "remove_label" else arguments["labels"]
    return [(label, adds) for label in labels]


def net_change(steps: Iterable[tuple[str, bool]]) -> LabelChange:
    """The net effect of ``steps`` applied in order: the last word on each label wins (add A then
    remove A: A absent).  Labels are compared as written (each forge compares them its own way;
    prowlet's plugins name them one way)."""
    last: dict[str, bool] = {}
    for label, wanted in steps:
        last.pop(label, None)  # re-inserted: the order follows the last word
        last[label] = wanted
    return LabelChange(tuple(l for l, w in last.items() if w), tuple(l for l, w in last.items() if not w))

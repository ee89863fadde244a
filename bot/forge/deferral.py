"""Label writes held back while the worker handles a run of one PR's queued events (``bot.worker``),
so that what a burst of commands does to one PR's labels leaves as one forge call.

Events of one PR are handled one after another (their order is the queue's promise), so a command's
label write that waits for the write budget would hold up the PR's next command, and each would
spend its own write.  The worker handles each event inside a ``LabelDeferral``, and while that
holds something, the PR's next queued events in the same one (a run).  While it is open, the
``Deferring`` layer (the top of each forge's stack) holds back a label write (add / remove) instead
of queueing it for the budget, answering at once — but only when the write would wait anyway (no
room now, or other writes already waiting), or when the run already holds a change for that item
(which the write then joins): under budget nothing is held, so nothing changes.  Held changes stay
true to what the run sees and does:

- a read that shows the item's labels (``get_item``) gets the held changes laid over its answer, so
  the run's next command sees the labels the previous ones set;
- anything whose order or answer depends on them first sends the item's held change: any other
  write to that item (a reply after ``/hold`` keeps its place), a read that depends on its labels
  (who added a label, mergeability), a listing of items by label (every held change);
- while the run holds changes the budget could not send now (``ready``), the PR's events that
  arrive meanwhile join the run (``bot.worker``), up to ``queue.run_limit`` events;
- at the end of the run the worker sends what is left (``flush``) before it acknowledges the run's
  events, so a crash or a failed send (then or earlier in the run) loses nothing: the events come
  again.

Which reads depend on labels is each method's ``Policy.labels`` (``bot.forge.policy``).  The run is a
context variable: only the run's own task (and tasks it starts while open) sees it.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Hashable, Iterator
from contextvars import ContextVar
from typing import Any

from bot.events import Item
from bot.forge.label_batch import LabelChange, label_writes, net_change
from bot.forge.layers import Call, Handler, WriteGate, change_labels_call
from bot.forge.policy import Kind, Labels

_RUN: ContextVar[LabelDeferral | None] = ContextVar("prowlet_label_deferral", default=None)


class LabelDeferral:
    """One run's held-back label writes, per forge stack and item, in the order they were made."""

    def __init__(self) -> None:
        self._held: dict[tuple[Deferring, Hashable], list[Call]] = {}
        self._open = True
        self._failure: Exception | None = None

    @contextlib.contextmanager
    def active(self) -> Iterator[LabelDeferral]:
        """Handle the run's events inside this block: their label writes may be held back."""
        token = _RUN.set(self)
        try:
            yield self
        finally:
            _RUN.reset(token)

    @property
    def holding(self) -> bool:
        """Whether some label change of the run has not reached the forge (held, or failed)."""
        return bool(self._held) or self._failure is not None

    async def ready(self) -> bool:
        """Whether every held change could be sent now without waiting for the write budget."""
        if self._failure is not None:
            return True  # nothing to wait for: the run has failed
        for layer in {layer for layer, _ in self._held}:
            if await layer.budget_spent():
                return False
        return True

    async def flush(self) -> None:
        """Close the run and send every held change (each item's as one call).  Every item is tried;
        then the first failure of the run's sends (here or earlier) is raised."""
        self._open = False
        for layer, item in list(self._held):
            await self.send(layer, item)
        if self._failure is not None:
            raise self._failure

    # ---- for the Deferring layer ----
    def holds(self, layer: Deferring, item: Hashable) -> bool:
        return (layer, item) in self._held

    def hold(self, layer: Deferring, item: Hashable, call: Call) -> None:
        self._held.setdefault((layer, item), []).append(call)

    def change(self, layer: Deferring, item: Hashable) -> LabelChange | None:
        calls = self._held.get((layer, item))
        if not calls:
            return None
        return net_change(_steps(calls))

    async def send(self, layer: Deferring, item: Hashable) -> None:
        # Taken out before the await: a write made meanwhile is held anew, after this one.
        calls = self._held.pop((layer, item), None)
        if not calls:
            return
        try:
            await layer.send(calls)
        except Exception as err:
            # Not the failure of whatever call made us send (a reply, a read): the run's own.  It
            # ends failed, and all its events are handled again, one by one (``bot.worker``).
            self._failure = self._failure or err

    async def send_all(self, layer: Deferring) -> None:
        for held_layer, item in list(self._held):
            if held_layer is layer:
                await self.send(layer, item)


def _steps(calls: list[Call]) -> list[tuple[str, bool]]:
    return [step for call in calls for step in label_writes(call.method, call.arguments) or ()]


def _open_run() -> LabelDeferral | None:
    run = _RUN.get()
    return run if run is not None and run._open else None


class Deferring:
    """The top layer: holds back a run's label writes as ``LabelDeferral`` describes; outside a
    run (or after it closed) every call passes straight through."""

    def __init__(self, inner: Handler, gate: WriteGate) -> None:
        self._inner = inner
        self._gate = gate
        self.coalesced = 0  # held label writes that left inside another's call

    async def __call__(self, call: Call) -> Any:
        run = _open_run()
        if run is None:
            return await self._inner(call)
        policy = call.policy
        item = call.arguments.get(policy.item_arg) if policy.item_arg else None
        if policy.kind is Kind.WRITE:
            if item is not None:
                if label_writes(call.method, call.arguments) is not None and (
                        run.holds(self, item) or await self.budget_spent()):
                    run.hold(self, item, call)
                    return None  # what a label write answers
                await run.send(self, item)  # this item's held labels go first
            return await self._inner(call)
        if policy.labels is Labels.DEPENDS and item is not None:
            await run.send(self, item)
        elif policy.labels is Labels.LISTS:
            await run.send_all(self)
        answer = await self._inner(call)
        if policy.labels is Labels.SHOWN and item is not None and isinstance(answer, Item):
            change = run.change(self, item)
            if change is not None:
                labels = (answer.labels - set(change.remove)) | set(change.add)
                answer = dataclasses.replace(answer, labels=frozenset(labels))
        return answer

    async def budget_spent(self) -> bool:
        """Whether a write now would wait for the budget — it has no room, or other writes are
        already waiting for it (then holding a change back costs it nothing)."""
        return self._gate.queued() or await self._gate.spare(0.0) == 0

    async def send(self, calls: list[Call]) -> None:
        """Send held label writes to one item: a single one as it was made, several as one call."""
        if len(calls) == 1:
            await self._inner(calls[0])
            return
        await self._inner(change_labels_call(calls[0], net_change(_steps(calls))))
        self.coalesced += len(calls) - 1

"""The layered forge client: one policy row per interface method, and what each kind of row does,
through the real adapters against the fake forges (requests read back from the fakes)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from bot.app import compose_forge
from bot.events import ItemKind, ItemRef
from bot.forge.base import ChangedFile
from bot.forge.layered import AsyncForge, interface_methods
from bot.forge.policy import POLICIES, Kind, Labels
from tests.conftest import AUTHOR, REPO, make_client
from tests.fakes.base import FakeForge


def test_every_interface_method_has_exactly_one_policy_row() -> None:
    assert sorted(POLICIES) == sorted(interface_methods())


@pytest.mark.parametrize("method", sorted(interface_methods()), ids=sorted(interface_methods()))
def test_async_forge_offers_every_interface_method(method: str) -> None:
    member = getattr(AsyncForge, method)
    assert asyncio.iscoroutinefunction(member) == (POLICIES[method].kind is not Kind.LOCAL)


# Writes that create something (a comment, a merge, a redelivery, a PR/MR, a CI run) are never repeated blindly.
NOT_REPEATABLE = {"comment", "merge", "redeliver", "create_pull", "dispatch_workflow", "start_pipeline"}


@pytest.mark.parametrize("method", sorted(POLICIES), ids=sorted(POLICIES))
def test_only_creating_writes_are_not_retry_safe(method: str) -> None:
    policy = POLICIES[method]
    assert (policy.kind is Kind.WRITE and not policy.retry_safe) == (method in NOT_REPEATABLE)


def _sees_labels(method: str) -> bool:
    """Whether a read's answer can depend on an item's labels: it returns items (``Item``,
    ``PullState``) or it names a label."""
    signature = interface_methods()[method]
    answer = str(signature.return_annotation)
    return "Item" in answer or "PullState" in answer or "label" in signature.parameters


@pytest.mark.parametrize("method", sorted(POLICIES), ids=sorted(POLICIES))
def test_every_read_that_sees_labels_says_how(method: str) -> None:
    """Else a run that holds label changes back (bot.forge.deferral) would answer it without them."""
    policy = POLICIES[method]
    if policy.kind is Kind.READ:
        assert (policy.labels is not Labels.NONE) == _sees_labels(method)


@pytest.fixture
async def forge(fake: FakeForge) -> AsyncIterator[AsyncForge]:
    client = compose_forge(make_client(fake))
    yield client
    client.close()


def _count(fake: FakeForge, since: int, needle: str) -> int:
    return sum(needle in r.path for r in fake.requests[since:])


async def test_pinned_file_is_read_once(fake: FakeForge, forge: AsyncForge) -> None:
    sha = fake.set_file(REPO, "OWNERS", "approvers: [ann]\n")
    before = len(fake.requests)
    texts = await asyncio.gather(*(forge.read_file(REPO, "OWNERS", sha) for _ in range(5)))
    assert await forge.read_file(REPO, "OWNERS", sha) == texts[0] == "approvers: [ann]\n"
    assert len(fake.requests) - before == 1  # concurrent identical calls share one request


async def test_changed_files_pinned_only_to_a_named_head(fake: FakeForge, forge: AsyncForge) -> None:
    number, _ = fake.open_pull(REPO, author=AUTHOR, files=[ChangedFile("a.go")])
    ref = ItemRef(REPO, number, ItemKind.PULL)
    head = fake.head_sha(REPO, number)
    before = len(fake.requests)
    await forge.changed_files(ref, head)
    await forge.changed_files(ref, head)
    pinned = len(fake.requests) - before
    await forge.changed_files(ref)
    await forge.changed_files(ref)
    assert len(fake.requests) - before == 3 * pinned  # without a head: asked every time


async def test_cached_login_and_forgotten_labels(fake: FakeForge, forge: AsyncForge) -> None:
    before = len(fake.requests)
    assert await forge.whoami() == await forge.whoami() == fake.bot_login
    logins = len(fake.requests) - before
    assert logins >= 1
    labels = await forge.repo_labels(REPO)
    assert await forge.repo_labels(REPO) == labels
    after_two = len(fake.requests)
    forge.forget("repo_labels", REPO)
    await forge.repo_labels(REPO)
    assert len(fake.requests) > after_two  # forgotten: asked again
    assert await forge.whoami() == fake.bot_login
    assert len(fake.requests) - before == logins + 2 * (after_two - before - logins)


async def test_reads_are_asked_every_time(fake: FakeForge, forge: AsyncForge) -> None:
    number, _ = fake.open_pull(REPO, author=AUTHOR)
    ref = ItemRef(REPO, number, ItemKind.PULL)
    await forge.get_item(ref)
    fake.set_labels(REPO, number, ["kind/bug"])
    assert (await forge.get_item(ref)).labels == {"kind/bug"}  # never a stale answer


async def test_writes_pass_the_gate_reads_do_not(fake: FakeForge) -> None:
    class CountingGate:
        admitted = 0

        async def admit(self) -> Any:
            self.admitted += 1

            async def answered() -> None:
                return None

            return answered

    gate = CountingGate()
    forge = compose_forge(make_client(fake), gate=gate)
    try:
        number, _ = fake.open_pull(REPO, author=AUTHOR)
        ref = ItemRef(REPO, number, ItemKind.PULL)
        await forge.get_item(ref)
        await forge.add_labels(ref, ("lgtm",))  # any sequence: the adapter gets a list
        await forge.remove_label(ref, "lgtm")
    finally:
        forge.close()
    assert gate.admitted == 2
    assert forge.metering.calls == {"get_item": 1, "add_labels": 1, "remove_label": 1}


# ---- the recording layer (prowlet simulate): writes are recorded, reads still reach the forge ----

RECORDED = [
    ("labels", lambda f, ref: f.add_labels(ref, ("lgtm",)), None, "add_labels(ref={ref}, labels=['lgtm'])"),
    ("comment", lambda f, ref: f.comment(ref, "hello"), int, "comment(ref={ref}, body='hello')"),
    ("assign", lambda f, ref: f.add_assignees(ref, ["carl"]), frozenset(), "add_assignees(ref={ref}, logins=['carl'])"),
    ("review", lambda f, ref: f.request_review(ref, ["carl"]), frozenset(), "request_review(ref={ref}, logins=['carl'])"),
    ("close", lambda f, ref: f.set_open(ref, False), None, "set_open(ref={ref}, is_open=False, not_planned=False)"),
]


@pytest.mark.parametrize("write,expected,described", [c[1:] for c in RECORDED], ids=[c[0] for c in RECORDED])
async def test_recording_layer_records_writes_and_sends_none(fake: FakeForge, write: Any, expected: Any,
                                                             described: str) -> None:
    number, _ = fake.open_pull(REPO, author=AUTHOR)
    ref = ItemRef(REPO, number, ItemKind.PULL)
    writes: list[Any] = []
    forge = compose_forge(make_client(fake), record_writes=writes)
    try:
        before = len(fake.requests)
        result = await write(forge, ref)
        item = await forge.get_item(ref)  # reads still go to the forge
    finally:
        forge.close()
    assert isinstance(result, expected) if isinstance(expected, type) else result == expected
    assert [str(w) for w in writes] == [described.format(ref=ref)]
    assert item.labels == frozenset()
    sent = fake.requests[before:]
    assert sent and all(r.method == "GET" for r in sent)
    assert forge.metering.calls[writes[0].method] == 1  # still counted as asked for

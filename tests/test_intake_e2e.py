"""The webhook receiver on both forges: authenticity, malformed input, dedup, ordering, fast ack."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import threading
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest

from aiohttp.test_utils import TestClient, TestServer

from bot.app import QUEUE_KEY, build_app
from bot.config import Config
from tests.conftest import AUTHOR, COLLAB, REPO, Bot, enabled
from tests.fakes.base import Delivery, FakeForge


def _tampered(delivery: Delivery) -> Delivery:
    """The same headers with a different body: the GitHub signature no longer matches; for GitLab
    (whose token does not cover the body) the token is replaced instead."""
    headers = dict(delivery.headers)
    if "X-Gitlab-Token" in headers:
        headers["X-Gitlab-Token"] = "wrong-token"
    return replace(delivery, headers=headers, body=delivery.body.replace(b"/hold", b"/lgtm"))


def _without_auth(delivery: Delivery) -> Delivery:
    headers = {k: v for k, v in delivery.headers.items() if k not in ("X-Hub-Signature-256", "X-Gitlab-Token")}
    return replace(delivery, headers=headers)


def _resigned(fake: FakeForge, delivery: Delivery, body: bytes) -> Delivery:
    """A delivery with a new body, correctly authenticated (the fake signs like the forge)."""
    headers = dict(delivery.headers)
    if "X-Hub-Signature-256" in headers:
        headers["X-Hub-Signature-256"] = "sha256=" + hmac.new(fake.webhook_secret.encode(), body, hashlib.sha256).hexdigest()
    return replace(delivery, body=body, headers=headers)


def _event_header(delivery: Delivery) -> str:
    return "X-GitHub-Event" if "X-GitHub-Event" in delivery.headers else "X-Gitlab-Event"


async def _open(bot: Bot) -> int:
    number, opened = bot.fake.open_pull(REPO, author=AUTHOR)
    await bot.deliver(opened)
    return number


async def test_bad_signature_is_refused_and_has_no_effect(bot: Bot) -> None:
    number = await _open(bot)
    before = len(bot.fake.requests)
    delivery = bot.fake.comment(REPO, number, COLLAB, "/hold")
    assert await bot.deliver(_tampered(delivery)) == 401
    assert await bot.deliver(_without_auth(delivery)) == 401
    assert bot.fake.labels(REPO, number) == set()
    assert len(bot.fake.requests) == before  # not a single forge call


async def test_malformed_bodies_get_400(bot: Bot) -> None:
    number = await _open(bot)
    delivery = bot.fake.comment(REPO, number, COLLAB, "/hold")
    for body in (b"{not json", b"[1, 2]", b"\xff\xfe"):
        assert await bot.deliver(_resigned(bot.fake, delivery, body)) == 400
    # valid JSON, but not the shape of the event it claims to be
    assert await bot.deliver(_resigned(bot.fake, delivery, json.dumps({"object_kind": "note"}).encode())) == 400
    headers = {k: v for k, v in delivery.headers.items() if k != _event_header(delivery)}
    assert await bot.deliver(replace(delivery, headers=headers)) == 400
    assert bot.fake.labels(REPO, number) == set()


async def test_unsupported_events_get_2xx(bot: Bot) -> None:
    number = await _open(bot)
    delivery = bot.fake.comment(REPO, number, COLLAB, "/hold")
    headers = {**delivery.headers, _event_header(delivery): "Wiki Page Hook" if bot.fake.name == "gitlab" else "gollum"}
    assert await bot.deliver(replace(delivery, headers=headers)) == 200
    assert bot.fake.labels(REPO, number) == set()


async def test_duplicate_delivery_is_handled_once(bot: Bot) -> None:
    number = await _open(bot)
    delivery = bot.fake.comment(REPO, number, COLLAB, "/help")
    assert await bot.deliver(delivery) == 202
    assert await bot.deliver(delivery) == 200
    assert len(bot.bot_comments(number)) == 1


async def test_events_of_one_pr_are_handled_in_order(bot: Bot) -> None:
    number = await _open(bot)
    fake = bot.fake
    deliveries = [fake.comment(REPO, number, COLLAB, body) for body in ("/hold", "/hold cancel", "/hold", "/kind bug", "/hold cancel")]
    statuses = [await bot.post(d) for d in deliveries]  # no waiting between them
    assert statuses == [202] * 5
    assert await bot.queue.join(30)
    assert fake.labels(REPO, number) == {"kind/bug"}


async def test_healthz(bot: Bot) -> None:
    resp = await bot.client.get("/healthz")
    body = await resp.json()
    assert resp.status == 200 and body["forges"] == [bot.fake.name]


async def test_unconfigured_forge_is_a_temporary_failure(bot: Bot) -> None:
    other = "/hook/gitlab" if bot.fake.name == "github" else "/hook/github"
    resp = await bot.client.post(other, data=b"{}")
    assert resp.status == 503  # a 4xx would make GitLab disable the hook for good


class _Gated:
    """Wraps a real client; every call waits for the gate.  Shows the ack never waits on the forge."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self.gate = threading.Event()

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._client, name)
        if not callable(attr):
            return attr

        def gated(*args: Any, **kwargs: Any) -> Any:
            assert self.gate.wait(30)
            return attr(*args, **kwargs)

        return gated


async def test_acknowledged_before_any_forge_call(fake: FakeForge, config: Config, tmp_path: Path) -> None:
    forge = enabled(fake)
    gated = _Gated(forge.client)
    app = build_app(config, {fake.name: replace(forge, client=gated)}, tmp_path)
    async with TestClient(TestServer(app)) as client:
        number, _ = fake.open_pull(REPO, author=AUTHOR)
        delivery = fake.comment(REPO, number, COLLAB, "/hold")
        before = len(fake.requests)
        resp = await client.post(delivery.path, data=delivery.body, headers=delivery.headers)
        assert resp.status == 202
        assert len(fake.requests) == before  # answered while every forge call is still blocked
        gated.gate.set()
        assert await app[QUEUE_KEY].join(30)
        assert fake.labels(REPO, number) == {"do-not-merge/hold"}


async def test_a_failing_forge_call_stops_neither_other_plugins_nor_the_server(bot: Bot) -> None:
    number = await _open(bot)
    fake = bot.fake
    fake.fail_next("POST", r".*/(notes|comments)$", 500, times=1)  # the reply fails...
    await bot.deliver(fake.comment(REPO, number, COLLAB, "/help\n/hold"))
    assert fake.labels(REPO, number) == {"do-not-merge/hold"}  # ...the hold plugin still ran
    await bot.deliver(fake.comment(REPO, number, COLLAB, "/kind bug"))
    assert "kind/bug" in fake.labels(REPO, number)  # and the server goes on
    await asyncio.sleep(0)


# The request that adds labels, per forge (GitHub: POST issue labels; GitLab: PUT on the MR).
LABEL_WRITE = {"github": ("POST", r".*/issues/\d+/labels$"), "gitlab": ("PUT", r".*/merge_requests/\d+$")}


async def test_forge_refusal_is_explained_and_the_next_command_still_runs(bot: Bot) -> None:
    number = await _open(bot)
    fake = bot.fake
    method, path = LABEL_WRITE[fake.name]
    fake.fail_next(method, path, 403, times=1)
    await bot.deliver(fake.comment(REPO, number, COLLAB, "/hold\n/kind bug"))
    assert fake.labels(REPO, number) == {"kind/bug"}
    (reply,) = bot.bot_comments(number)
    assert reply.startswith(f"@{COLLAB}: I couldn't complete that: my account is not allowed")
    assert "> &#47;hold" in reply  # it says which command failed


async def test_rate_limit_is_explained(bot: Bot) -> None:
    number = await _open(bot)
    fake = bot.fake
    method, path = LABEL_WRITE[fake.name]
    fake.fail_next(method, path, 429, times=5)  # GitLab waits out a few 429s before giving up
    await bot.deliver(fake.comment(REPO, number, COLLAB, "/hold"))
    assert fake.labels(REPO, number) == set()
    (reply,) = bot.bot_comments(number)
    assert "rate limit" in reply


async def test_commands_in_a_review_body_run(bot: Bot) -> None:
    if bot.fake.name != "github":
        pytest.skip("GitLab approvals carry no text")
    number = await _open(bot)
    await bot.deliver(bot.fake.review(REPO, number, COLLAB, "commented", body="Nice.\n/kind bug"))
    assert bot.fake.labels(REPO, number) == {"kind/bug"}


async def test_gitlab_idempotency_key_wins_over_event_uuid(bot: Bot) -> None:
    if bot.fake.name != "gitlab":
        pytest.skip("GitLab header")
    number = await _open(bot)
    first = bot.fake.comment(REPO, number, COLLAB, "/help")
    retry = replace(first, headers={**first.headers, "X-Gitlab-Event-UUID": "another-uuid"})
    for delivery in (first, retry):
        headers = {**delivery.headers, "Idempotency-Key": "key-1"}
        await bot.deliver(replace(delivery, headers=headers))
    assert len(bot.bot_comments(number)) == 1


async def test_github_form_encoded_payload(bot: Bot) -> None:
    if bot.fake.name != "github":
        pytest.skip("GitHub content type")
    number = await _open(bot)
    delivery = bot.fake.comment(REPO, number, COLLAB, "/hold")
    body = urlencode({"payload": delivery.body.decode()}).encode()
    form = _resigned(bot.fake, delivery, body)
    form = replace(form, headers={**form.headers, "Content-Type": "application/x-www-form-urlencoded"})
    assert await bot.deliver(form) == 202
    assert bot.fake.labels(REPO, number) == {"do-not-merge/hold"}

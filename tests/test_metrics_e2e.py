"""/metrics on both forges: real webhooks through the app, the scraped values move as they should."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from bot.app import DISPATCH_KEY
from bot.events import ItemKind, ItemRef
from tests.conftest import AUTHOR, COLLAB, REPO, Bot
from tests.fakes.base import Delivery


class Scrape:
    def __init__(self, text: str) -> None:
        self.samples = [s for family in text_string_to_metric_families(text) for s in family.samples]

    def value(self, name: str, **labels: str) -> float:
        """The sum of ``name``'s samples whose labels include ``labels`` (0 when none)."""
        return sum(s.value for s in self.samples
                   if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()))

    def labels_of(self, name: str) -> list[dict[str, str]]:
        return [s.labels for s in self.samples if s.name == name]


async def scrape(bot: Bot) -> Scrape:
    resp = await bot.client.get("/metrics")
    assert resp.status == 200
    assert resp.headers["Content-Type"].startswith("text/plain")
    return Scrape(await resp.text())


def _event_header(delivery: Delivery) -> str:
    return "X-GitHub-Event" if "X-GitHub-Event" in delivery.headers else "X-Gitlab-Event"


def _tampered(delivery: Delivery) -> Delivery:
    headers = dict(delivery.headers)
    if "X-Gitlab-Token" in headers:
        headers["X-Gitlab-Token"] = "wrong-token"
        return replace(delivery, headers=headers)
    return replace(delivery, body=delivery.body + b" ")


async def test_webhook_outcomes_are_counted_by_forge_event_and_outcome(bot: Bot) -> None:
    forge = bot.fake.name
    number, opened = bot.fake.open_pull(REPO, author=AUTHOR)
    event = opened.headers[_event_header(opened)]
    assert (await scrape(bot)).value("prowlet_webhooks_total", forge=forge) == 0
    assert await bot.deliver(opened) == 202
    assert await bot.deliver(opened) == 200  # a redelivery
    assert await bot.deliver(_tampered(opened)) == 401
    assert await bot.deliver(replace(opened, body=b"{not json")) in (400, 401)  # GitHub: the signature fails first
    headers = {**opened.headers, _event_header(opened): "Wiki Page Hook" if forge == "gitlab" else "gollum"}
    assert await bot.deliver(replace(opened, headers=headers)) == 200
    s = await scrape(bot)
    assert s.value("prowlet_webhooks_total", forge=forge, event=event, outcome="accepted") == 1
    assert s.value("prowlet_webhooks_total", forge=forge, event=event, outcome="duplicate") == 1
    assert s.value("prowlet_webhooks_total", forge=forge, event="unverified", outcome="bad_signature") == (
        2 if forge == "github" else 1)
    assert s.value("prowlet_webhooks_total", forge=forge, outcome="malformed") == (0 if forge == "github" else 1)
    assert s.value("prowlet_webhooks_total", forge=forge, outcome="ignored") == 1
    assert s.value("prowlet_event_handling_seconds_count", forge=forge) == 1
    # The queue is drained: nothing waits, nothing is old.
    assert s.value("prowlet_queue_depth") == 0
    assert s.value("prowlet_queue_oldest_event_age_seconds") == 0


async def test_commands_are_counted_by_name_and_outcome(bot: Bot) -> None:
    fake: Any = bot.fake
    number, opened = fake.open_pull(REPO, author=AUTHOR)
    await bot.deliver(opened)
    await bot.deliver(fake.comment(REPO, number, COLLAB, "/hold"))
    await bot.deliver(fake.comment(REPO, number, AUTHOR, "/lgtm"))  # the author may not
    if fake.name == "github":
        fake.fail_next("POST", r"/labels$", 404, times=3)
    else:
        fake.fail_next("PUT", r"/merge_requests/\d+$", 404, times=3)
    await bot.deliver(fake.comment(REPO, number, COLLAB, "/hold"))
    s = await scrape(bot)
    assert s.value("prowlet_commands_total", command="hold", outcome="done") == 1
    assert s.value("prowlet_commands_total", command="lgtm", outcome="refused") == 1
    assert s.value("prowlet_commands_total", command="hold", outcome="failed") == 1
    # No label carries who or which PR.
    for sample in s.samples:
        assert AUTHOR not in sample.labels.values() and COLLAB not in sample.labels.values()
        assert str(number) not in sample.labels.values() or sample.name.startswith("prowlet_forge_requests")


async def test_forge_requests_and_rate_budget_come_from_the_meters(bot: Bot) -> None:
    forge = bot.fake.name
    before = await scrape(bot)
    number, opened = bot.fake.open_pull(REPO, author=AUTHOR)
    await bot.deliver(opened)
    await bot.deliver(bot.fake.comment(REPO, number, COLLAB, "/hold"))
    await bot.deliver(bot.fake.comment(REPO, number, COLLAB, "/hold cancel"))
    s = await scrape(bot)
    sent = s.value("prowlet_forge_requests_total", forge=forge)
    assert sent > before.value("prowlet_forge_requests_total", forge=forge)
    assert sent == len(bot.fake.requests)  # every request the fake saw, nothing else
    assert s.value("prowlet_forge_requests_total", forge=forge, method="GET", status="200") > 0
    statuses = {labels["status"] for labels in s.labels_of("prowlet_forge_requests_total")}
    assert all(status.isdigit() for status in statuses)
    assert s.value("prowlet_forge_calls_total", forge=forge) > 0
    assert s.value("prowlet_write_budget_admitted_total", forge=forge) >= 2  # the two label writes
    assert s.value("prowlet_write_budget_in_window", forge=forge) >= 2
    assert {"forge": forge} in s.labels_of("prowlet_write_budget_coalesced_total")
    assert s.value("prowlet_write_budget_coalesced_total", forge=forge) == 0  # nothing waited


async def test_a_repeat_read_shows_as_a_304(bot: Bot) -> None:
    forge = bot.client.app[DISPATCH_KEY].forges[bot.fake.name]  # the app's own layered client
    number, opened = bot.fake.open_pull(REPO, author=AUTHOR)
    await bot.deliver(opened)
    ref = ItemRef(REPO, number, ItemKind.PULL)
    await forge.get_item(ref)
    forge.forget("get_item", ref)  # past the in-process cache: the forge is asked, with the validator
    await forge.get_item(ref)
    s = await scrape(bot)
    not_modified = sum(1 for r in bot.fake.requests if r.status == 304)
    assert not_modified > 0
    assert s.value("prowlet_forge_requests_total", forge=bot.fake.name, method="GET", status="304") == not_modified


async def test_two_apps_in_one_process_keep_their_own_registries(tmp_path: Any) -> None:
    from bot.app import METRICS_KEY, STORES_KEY, build_app
    from bot.config import parse_config
    from plugins import REGISTRY

    config = parse_config({}, REGISTRY)
    first = build_app(config, {}, tmp_path / "a")
    second = build_app(config, {}, tmp_path / "b")  # the global registry would refuse these names twice
    try:
        first[METRICS_KEY].webhook("github", "push", "accepted")
        assert second[METRICS_KEY].registry.get_sample_value(
            "prowlet_webhooks_total", {"forge": "github", "event": "push", "outcome": "accepted"}) is None
        assert first[METRICS_KEY].registry.get_sample_value(
            "prowlet_webhooks_total", {"forge": "github", "event": "push", "outcome": "accepted"}) == 1
    finally:
        for app in (first, second):
            await app[STORES_KEY].close()

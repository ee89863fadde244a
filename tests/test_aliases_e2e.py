"""Aliases end to end on both forges: a signed webhook in, the workflow dispatch / pipeline and the
replies read back from the fake forge through the real SDKs; the HTTP action against a local
receiver that checks the signature with its own code."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from bot.app import build_app
from bot.config import Config

from tests.conftest import AUTHOR, COLLAB, OTHER, OUTSIDER, REPO, Bot, GuardedTestServer, enabled
from bot.forge.base import ChangedFile
from tests.fakes.base import Delivery

HOLD = "do-not-merge/hold"
HTTP_SECRET = "alias-hook-secret"

DEPLOY = {
    "command": "deploy",
    "format": "{{env}} {{branch=HEAD}}",
    "help": "Deploys a branch to an environment.",
    "params": {"env": {"allowed": ["staging", "prod"]}},
    "who": {"rule": "collaborators"},
    "protect": {"prod": {"branches": ["main"], "not_held": True}},
    "action": {"workflow": "deploy.yml", "inputs": {"environment": "{{env}}"},
               "pipeline": True, "variables": {"DEPLOY_ENV": "{{env}}"}, "ref": "{{branch}}"},
    "ack": "Deploying {{branch}} to {{env}}…",
    "result": "deploy of {{branch}} to {{env}}: {{status}} {{url}}",
}
NOTIFY = {
    "command": "notify-ops",
    "format": "{{env}}",
    "who": {"anyone": True},
    "action": {"url_env": "ALIAS_TEST_URL", "secret_env": "ALIAS_TEST_SECRET", "payload": {"stage": "{{env}}"}},
    "result": "ops said {{status}} {{url}}",
}

SMOKE = {
    "command": "smoke",
    "format": "{{env}}",
    "params": {"env": {"allowed": ["staging", "prod"]}},
    "action": {"job": "smoke-test"},
    "ack": "smoke testing {{env}}",
    "result": "smoke test of {{env}}: {{status}}",
}
SHIP = {"command": "ship", "who": {"teams": ["release"]}, "action": {"workflow": "ship.yml", "pipeline": True},
        "ack": "shipping", "result": "shipped: {{status}}"}
APPROVED = {"command": "release-notes", "who": {"owners": "approvers"}, "action": {"pipeline": True, "workflow": "ship.yml"},
            "ack": "approved"}
PIPE = {"command": "pipe", "who": {"anyone": True}, "action": {"pipeline": True}, "ack": "piping"}
# The job passes only when it finds the value in its environment (it is never in the command).
SMOKE_JOB = {"name": "smoke-test", "run": '[ "$PROWLET_PARAM_ENV" = staging ]', "clone": False, "always_run": False}


class Receiver:
    """An HTTP endpoint that checks X-Prowlet-Signature-256 itself and answers with a link."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.refused = 0

    async def handle(self, request: web.Request) -> web.Response:
        raw = await request.read()
        expected = "sha256=" + hmac.new(HTTP_SECRET.encode(), raw, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(request.headers.get("X-Prowlet-Signature-256", ""), expected):
            self.refused += 1
            return web.Response(status=401)
        self.bodies.append(json.loads(raw))
        return web.json_response({"url": "https://ops.example.com/runs/7"})


@pytest.fixture
async def receiver() -> AsyncIterator[tuple[Receiver, str]]:
    found = Receiver()
    app = web.Application()
    app.router.add_post("/deploy", found.handle)
    async with TestServer(app, host="127.0.0.1") as server:
        yield found, str(server.make_url("/deploy"))


@pytest.fixture
def config_data(receiver: tuple[Receiver, str], monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    monkeypatch.setenv("ALIAS_TEST_URL", receiver[1])
    monkeypatch.setenv("ALIAS_TEST_SECRET", HTTP_SECRET)
    return {"aliases": [DEPLOY, NOTIFY, SMOKE, SHIP, PIPE, APPROVED], "jobs": [SMOKE_JOB]}


def started(bot: Bot) -> list[tuple[str, dict[str, str]]]:
    """(ref, inputs/variables) of every run the bot started, as the fake forge recorded them."""
    if bot.fake.name == "github":
        return [(ref, inputs) for file, ref, inputs, _ in bot.fake.dispatches(REPO)]
    return [(ref, {v["key"]: v["value"] for v in variables}) for _, ref, variables in bot.fake.branch_pipelines(REPO)]


def expected_inputs(bot: Bot, env: str) -> dict[str, str]:
    return {"environment": env} if bot.fake.name == "github" else {"DEPLOY_ENV": env}


def finish_last_run(bot: Bot, ok: bool) -> tuple[Delivery, str]:
    """The last started run ends; its webhook and the run's page."""
    fake = bot.fake
    if fake.name == "github":
        run_id = fake.dispatches(REPO)[-1][3]
        return fake.finish_run(REPO, run_id, "success" if ok else "failure"), f"/actions/runs/{run_id}"
    pipeline_id = fake.branch_pipelines(REPO)[-1][0]
    return fake.finish_pipeline(REPO, pipeline_id, "success" if ok else "failed"), f"/-/pipelines/{pipeline_id}"


async def open_pull(bot: Bot) -> int:
    if bot.fake.name == "github":
        bot.fake.add_workflow(REPO, "deploy.yml", inputs={"environment": {"required": True, "options": ["staging", "prod"]}})
    number, opened = bot.fake.open_pull(REPO, author=AUTHOR)
    await bot.deliver(opened)
    return number


async def say(bot: Bot, number: int, body: str, who: str = COLLAB) -> list[str]:
    """Comment, wait until handled; the bot's comments posted since."""
    before = len(bot.bot_comments(number))
    await bot.deliver(bot.fake.comment(REPO, number, author=who, body=body))
    return bot.bot_comments(number)[before:]


async def test_deploy_head_branch_ack_then_result(bot: Bot) -> None:
    number = await open_pull(bot)
    head = bot.fake.head_branch(REPO, number)
    replies = await say(bot, number, "/deploy staging")
    assert started(bot) == [(head, expected_inputs(bot, "staging"))]
    assert len(replies) == 1 and f"@{COLLAB}: Deploying {head} to staging…" in replies[0]

    finished, page = finish_last_run(bot, ok=True)
    await bot.deliver(finished)
    (result,) = bot.bot_comments(number)[-1:]
    assert f"@{COLLAB}: deploy of {head} to staging: success " in result and page in result
    posted = bot.bot_comments(number)
    await bot.deliver(finished)  # a redelivery, and another webhook for the same run, post nothing more
    await bot.deliver(finish_last_run(bot, ok=True)[0])
    assert bot.bot_comments(number) == posted


async def test_failed_run_reports_failure(bot: Bot) -> None:
    number = await open_pull(bot)
    await say(bot, number, "/deploy prod main")
    assert started(bot) == [("main", expected_inputs(bot, "prod"))]
    finished, _ = finish_last_run(bot, ok=False)
    await bot.deliver(finished)
    assert "deploy of main to prod: failure" in bot.bot_comments(number)[-1]


REFUSALS = [
    ("no write access", "/deploy staging", AUTHOR, "you can't use `/deploy`: only collaborators"),
    ("outsider", "/deploy staging", OUTSIDER, "you can't use `/deploy`: only collaborators"),
    ("prod only from main", "/deploy prod", COLLAB, "you can't use `/deploy` with `prod`: only from `main`, not from"),
    ("value not allowed", "/deploy qa", COLLAB, "'env' must be one of staging, prod"),
    ("missing value", "/deploy", COLLAB, "missing value for 'env'. Usage: `/deploy <env> [branch=HEAD]`"),
    ("too many values", "/deploy staging main extra", COLLAB, "too many values"),
    ("shell separator", "/deploy staging;reboot", COLLAB, "'env' must be one plain word"),
    ("rm -rf after a separator", "/deploy staging; rm -rf /", COLLAB, "too many values"),
    ("command substitution", "/deploy staging $(reboot)", COLLAB, "'branch' must be one plain word"),
    ("backticks", "/deploy staging `id`", COLLAB, "'branch' must be one plain word"),
    ("option", "/deploy staging --force", COLLAB, "'branch' must be one plain word"),
    ("pipe", "/deploy staging main|sh", COLLAB, "'branch' must be one plain word"),
]


@pytest.mark.parametrize("body,who,reply", [c[1:] for c in REFUSALS], ids=[c[0] for c in REFUSALS])
async def test_refused_without_starting_anything(bot: Bot, body: str, who: str, reply: str) -> None:
    number = await open_pull(bot)
    replies = await say(bot, number, body, who)
    assert len(replies) == 1 and reply in replies[0], replies
    assert started(bot) == []


async def test_prod_never_while_held(bot: Bot) -> None:
    number = await open_pull(bot)
    bot.fake.set_labels(REPO, number, [HOLD])
    (reply,) = await say(bot, number, "/deploy prod main")
    assert "you can't use `/deploy` with `prod`: not while this" in reply and started(bot) == []


async def test_newline_ends_the_command(bot: Bot) -> None:
    """A second line is never part of a value: the parser reads one line per command."""
    number = await open_pull(bot)
    await say(bot, number, "/deploy staging\nrm -rf /")
    assert started(bot) == [(bot.fake.head_branch(REPO, number), expected_inputs(bot, "staging"))]


async def test_http_action_is_signed_and_reports_the_answer(bot: Bot, receiver: tuple[Receiver, str]) -> None:
    found, _ = receiver
    number = await open_pull(bot)
    (reply,) = await say(bot, number, "/notify-ops staging", OUTSIDER)
    (body,) = found.bodies
    assert found.refused == 0
    assert (body["command"], body["params"], body["stage"], body["repo"], body["number"], body["actor"]) == (
        "notify-ops", {"env": "staging"}, "staging", REPO, number, OUTSIDER)
    assert f"@{OUTSIDER}: ops said success https://ops.example.com/runs/7" in reply


async def test_help_lists_the_aliases(bot: Bot) -> None:
    number = await open_pull(bot)
    help_command = "/help"
    (reply,) = await say(bot, number, help_command)
    assert "`/deploy <env> [branch=HEAD]` | Deploys a branch to an environment. | collaborators" in reply
    assert "`/notify-ops <env>`" in reply


async def test_github_refusal_of_the_dispatch_is_told(bot: Bot, forge_name: str) -> None:
    if forge_name != "github":
        pytest.skip("workflow files are GitHub's")
    bot.fake.add_workflow(REPO, "deploy.yml", dispatchable=False)
    number, opened = bot.fake.open_pull(REPO, author=AUTHOR)
    await bot.deliver(opened)
    replies = await say(bot, number, "/deploy staging")
    assert "I couldn't start `/deploy`: the forge refused it" in replies[-1]
    assert "workflow_dispatch" in replies[-1]


async def replies_settled(bot: Bot, number: int, count: int) -> list[str]:
    """The bot's comments once there are ``count`` (a job's result comes from its own task)."""
    for _ in range(400):
        if len(bot.bot_comments(number)) >= count:
            break
        await asyncio.sleep(0.025)
    return bot.bot_comments(number)


@pytest.mark.parametrize("env,status", [("staging", "success"), ("prod", "failure")])
async def test_builtin_job_gets_the_values_in_its_environment(bot: Bot, env: str, status: str) -> None:
    number = await open_pull(bot)
    before = len(bot.bot_comments(number))
    (ack,) = await say(bot, number, f"/smoke {env}")
    assert f"smoke testing {env}" in ack
    comments = await replies_settled(bot, number, before + 2)
    assert f"@{COLLAB}: smoke test of {env}: {status}" in comments[before + 1]


async def test_team_members_only(bot: Bot) -> None:
    if bot.fake.name == "github":
        bot.fake.add_workflow(REPO, "ship.yml")
    number = await open_pull(bot)
    (refused,) = await say(bot, number, "/ship", OTHER)
    assert "you can't use `/ship`: only members of team release may use it." in refused and started(bot) == []
    if bot.fake.name == "github":
        bot.fake.add_team("acme", "release", members=[OTHER])
    else:
        bot.fake.add_group_member("acme/release", OTHER)  # GitLab: the team is the subgroup acme/release
    (ack,) = await say(bot, number, "/ship", OTHER)
    assert "shipping" in ack and [ref for ref, _ in started(bot)] == [bot.fake.head_branch(REPO, number)]


async def test_an_action_the_forge_lacks_is_told(bot: Bot) -> None:
    number = await open_pull(bot)
    (reply,) = await say(bot, number, "/pipe")
    if bot.fake.name == "github":
        assert "`/pipe` starts a GitLab pipeline, which is not supported on GitHub." in reply and started(bot) == []
    else:
        assert "piping" in reply and len(started(bot)) == 1


async def test_without_a_run_id_the_dispatched_run_is_matched_by_workflow_and_branch(bot: Bot, forge_name: str) -> None:
    if forge_name != "github":
        pytest.skip("GitHub Enterprise Server before February 2026 answers a dispatch with 204")
    bot.fake.dispatch_run_details = False
    number = await open_pull(bot)
    await say(bot, number, "/deploy staging")
    finished, page = finish_last_run(bot, ok=True)
    await bot.deliver(finished)
    assert "deploy of topic-1 to staging: success" in bot.bot_comments(number)[-1] and page in bot.bot_comments(number)[-1]


async def test_a_result_waited_for_survives_a_restart(fake: Any, config: Config, tmp_path: Path) -> None:
    """The pending result is in the store: a new process posts it when the run's webhook comes."""
    async def running() -> Any:
        app = build_app(config, {fake.name: enabled(fake)}, tmp_path / "data")
        return TestClient(GuardedTestServer(app))

    async with await running() as client:
        first = Bot(client, fake)
        number = await open_pull(first)
        await say(first, number, "/deploy staging")
    finished, _ = finish_last_run(first, ok=True)
    async with await running() as client:
        await Bot(client, fake).deliver(finished)
    assert "deploy of topic-1 to staging: success" in first.bot_comments(number)[-1]


async def test_owners_approvers_of_the_changed_files_only(bot: Bot) -> None:
    if bot.fake.name == "github":
        bot.fake.add_workflow(REPO, "ship.yml")
    bot.fake.set_file(REPO, "pkg/api/OWNERS", f"approvers: [{OTHER}]\n")
    number, opened = bot.fake.open_pull(REPO, author=AUTHOR, files=[ChangedFile("pkg/api/server.go")])
    await bot.deliver(opened)
    (refused,) = await say(bot, number, "/release-notes", COLLAB)
    assert "only OWNERS approvers of the changed files may use it." in refused and started(bot) == []
    (ack,) = await say(bot, number, "/release-notes", OTHER)
    assert "approved" in ack and len(started(bot)) == 1

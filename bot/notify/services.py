"""The services a channel can be, by the ``kind`` the config names (one module each)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from bot.notify import dingtalk, feishu, slack, teams, webhook, wecom
from bot.notify.message import Message, Request, Target


@dataclass(frozen=True)
class Service:
    request: Callable[[Message, Target], Request]  # the signed request the service documents
    problem: Callable[[int, bytes], str | None]  # its answer: None when the message was taken
    needs_secret: bool = False  # the signature is not optional (the generic webhook)


SERVICES: dict[str, Service] = {
    "slack": Service(slack.request, slack.problem),
    "dingtalk": Service(dingtalk.request, dingtalk.problem),
    "feishu": Service(feishu.request, feishu.problem),
    "wecom": Service(wecom.request, wecom.problem),
    "teams": Service(teams.request, teams.problem),
    "webhook": Service(webhook.request, webhook.problem, needs_secret=True),
}

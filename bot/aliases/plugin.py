"""Config-defined commands as one synthetic plugin: each alias is a ``Command`` (so the dispatcher
checks who may use it, and ``/help`` and ``prowlet commands`` list it), and one subscription to
``RunFinished`` posts the results of the workflows and pipelines the aliases started.

The acknowledgement is posted at once; the result when the action ends: an HTTP call's answer at
once, a workflow run's or pipeline's from the forge's webhook for that run, matched through the
durable state store (so a restart in between loses nothing).
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import re
import uuid
from collections.abc import Mapping, Sequence
from functools import partial
from typing import Any

from bot.aliases import http
from bot.aliases.results import (
    PENDING,
    PENDING_TTL,
    dispatch_key,
    job_key,
    pending_result,
    post_result,
    run_key,
)
from bot.aliases.settings import AliasSettings, Protection
from bot.aliases.template import HEAD, ArgumentError, bind, check_value, render, syntax
from bot.aliases.who import in_team, who_rule
from bot.commands import Invocation
from bot.context import Context
from bot.ci.jobs import Change
from bot.events import Item, RunFinished
from bot.forge.base import InvalidRequestError, NotFoundError
from bot.plugin import PULLS_ONLY, Command, Plugin, Subscription
from bot.replies import code

NAME = "aliases"
HOLD_LABEL = "do-not-merge/hold"
_ANY_ARGS = re.compile(r".*")  # the handler checks the words itself, to say what is wrong


def build_plugin(aliases: Sequence[AliasSettings]) -> Plugin:
    commands = tuple(
        Command(alias.command, partial(run_alias, alias), who_rule(alias.who),
                alias.help or f"Runs the configured {alias.command} action.",
                syntax=syntax(alias.parameters), args=_ANY_ARGS, examples=(_example(alias),), on=PULLS_ONLY)
        for alias in aliases
    )
    return Plugin(NAME, "Commands defined in the config (aliases:).", commands=commands,
                  subscriptions=(Subscription(report_run, (RunFinished,)),), default=False)


def _example(alias: AliasSettings) -> str:
    """``/deploy staging``: each required parameter's first allowed value (else its name)."""
    words = []
    for param in alias.parameters:
        if param.default is not None:
            break
        rule = alias.params.get(param.name)
        words.append(rule.allowed[0] if rule and rule.allowed else param.name)
    return " ".join([f"/{alias.command}", *words])


# ---- running an alias ------------------------------------------------------------------------


async def run_alias(alias: AliasSettings, ctx: Context, inv: Invocation) -> None:
    usage = code(f"/{alias.command} {syntax(alias.parameters)}".rstrip())
    item = await ctx.item()
    try:
        values = _values(alias, inv.args, item)
        ref = render(alias.action.ref, values)
        ref = (item.head_ref or "") if ref == HEAD else ref
        check_value("ref", ref)
    except ArgumentError as err:
        await ctx.reply(inv, f"I can't run that: {err}. Usage: {usage}.")
        return
    refusal = await _protection_refusal(alias, ctx, values, ref, item)
    if refusal:
        await ctx.reply(inv, f"you can't use {code('/' + alias.command)} {refusal}")
        return
    caps = ctx.forge.capabilities
    action = alias.action
    if not (action.url_env or action.job) and not (action.workflow and caps.dispatches_workflows) \
            and not (action.pipeline and caps.starts_pipelines):
        what = "a GitHub Actions workflow" if action.workflow else "a GitLab pipeline"
        await ctx.reply(inv, f"{code('/' + alias.command)} starts {what}, which is not supported on "
                             f"{'GitLab' if action.workflow else 'GitHub'}.")
        return
    if not await ctx.once(f"alias:{inv.line}"):
        return  # this event was handled before: the action has been started
    if alias.ack:
        await ctx.reply(inv, render(alias.ack, values))
    if action.url_env:
        await _call_http(alias, ctx, inv, values, ref)
        return
    if action.job:
        await _start_job(alias, ctx, inv, values)
        return
    try:
        if action.workflow and caps.dispatches_workflows:
            inputs = {k: render(v, values) for k, v in action.inputs.items()}
            started = await ctx.forge.dispatch_workflow(ctx.event.repo, action.workflow, ref, inputs)
            keys = [run_key(ctx.event.forge, ctx.event.repo, started.id)] if started.id is not None \
                else [dispatch_key(ctx.event.repo, action.workflow, ref)]
        else:
            variables = {k: render(v, values) for k, v in action.variables.items()}
            started = await ctx.forge.start_pipeline(ctx.event.repo, ref, variables)
            keys = [run_key(ctx.event.forge, ctx.event.repo, started.id)]
    except (NotFoundError, InvalidRequestError) as err:
        ctx.log.warning("alias action refused", command=alias.command, error=str(err))
        await ctx.reply(inv, f"I couldn't start {code('/' + alias.command)}: the forge refused it ({err}).")
        return
    ctx.log.info("alias started", command=alias.command, run_id=started.id, ref=ref)
    await _remember(ctx, alias, inv, values, started.url, keys)


async def _start_job(alias: AliasSettings, ctx: Context, inv: Invocation, values: Mapping[str, str]) -> None:
    """The built-in job on the PR/MR's head, the values in its environment (PROWLET_PARAM_<NAME>)."""
    job = next((j for j in ctx.ci.jobs_for(ctx.event.repo) if j.name == alias.action.job), None)
    if job is None or ctx.ci.runner is None:
        await ctx.reply(inv, f"I couldn't run {code('/' + alias.command)}: its job {code(alias.action.job)} "
                             f"does not run in this repository.")
        return
    change = Change.of(ctx.forge.name, await ctx.item(), await ctx.forge.git_source(ctx.ref))
    change = dataclasses.replace(change, params=tuple(sorted(values.items())))
    # Waited for before it starts: a quick job's JobFinished must find what it answers.
    job_id = uuid.uuid4().hex
    await _remember(ctx, alias, inv, values, ctx.ci.runner.job_url(job_id), [job_key(job_id)])
    await ctx.ci.runner.start(job, change, job_id=job_id)
    ctx.log.info("alias started", command=alias.command, job_id=job_id)


def _values(alias: AliasSettings, args: str, item: Item) -> dict[str, str]:
    """The command's words bound to the alias's parameters, HEAD resolved, each one validated."""
    values = bind(alias.parameters, args)
    for name, value in values.items():
        if value == HEAD:  # the PR/MR's head branch (its source branch)
            if not item.head_ref:
                raise ArgumentError(f"I cannot tell the head branch of this change for {name!r}")
            values[name] = item.head_ref
        rule = alias.params.get(name)
        check_value(name, values[name], rule.allowed if rule else (), rule.regex if rule else None)
    return values


async def _protection_refusal(alias: AliasSettings, ctx: Context, values: Mapping[str, str], ref: str,
                              item: Item) -> str | None:
    """Why a protected value may not be used here and now (None: it may)."""
    for value, rule in alias.protect.items():
        if value not in values.values():
            continue
        refusal = await _protected(rule, ctx, ref, item)
        if refusal:
            return f"with {code(value)}: {refusal}"
    return None


async def _protected(rule: Protection, ctx: Context, ref: str, item: Item) -> str | None:
    if rule.branches and ref not in rule.branches:
        return f"only from {', '.join(code(b) for b in rule.branches)}, not from {code(ref)}."
    if rule.not_held and HOLD_LABEL in item.labels:
        return f"not while this {ctx.noun()} is held ({code(HOLD_LABEL)})."
    if rule.teams or rule.users:
        actor = ctx.event.actor
        if any(user.lower() == actor.lower() for user in rule.users):
            return None
        for team in rule.teams:
            if await in_team(ctx, team, actor):
                return None
        allowed = [f"team {t}" for t in rule.teams] + [f"@{u}" for u in rule.users]
        return f"only {', '.join(allowed)} may."
    return None


async def _call_http(alias: AliasSettings, ctx: Context, inv: Invocation, values: Mapping[str, str], ref: str) -> None:
    action = alias.action
    url, secret = os.environ.get(action.url_env, ""), os.environ.get(action.secret_env, "")
    if not url or not secret:
        missing = action.url_env if not url else action.secret_env
        ctx.log.warning("alias HTTP action not configured", command=alias.command, missing=missing)
        await ctx.reply(inv, f"I couldn't run {code('/' + alias.command)}: {missing} is not set where I run.")
        return
    delivery = hashlib.sha256(f"{ctx.event.forge}:{ctx.event.delivery_id}:{inv.line}".encode()).hexdigest()[:32]
    payload: dict[str, Any] = {
        **{k: render(v, values) for k, v in action.payload.items()},
        "id": delivery, "command": alias.command, "params": dict(values), "ref": ref, "forge": ctx.event.forge,
        "repo": ctx.event.repo, "number": ctx.ref.number, "actor": ctx.event.actor,
    }
    outcome = await (ctx.ci.http_call or http.call)(url, secret, payload, delivery)
    ctx.log.info("alias HTTP call", command=alias.command, status=outcome.status, detail=outcome.detail)
    await ctx.reply(inv, render(alias.result, {**values, "status": outcome.status, "url": outcome.url}))


# ---- results of runs ---------------------------------------------------------------------------


async def _remember(ctx: Context, alias: AliasSettings, inv: Invocation, values: Mapping[str, str],
                    url: str, keys: list[str]) -> None:
    if ctx.state is None:
        return
    pending = pending_result(ctx.event.repo, ctx.ref.number, ctx.event.actor, inv.line,
                             getattr(ctx.event, "url", None) or "", alias.result, values, url)
    for key in keys:
        await ctx.state.put(PENDING, key, pending, ttl=PENDING_TTL)


async def report_run(ctx: Context) -> None:
    """A workflow run or pipeline ended: post the result of the alias that started it, if one did."""
    event = ctx.event
    if not isinstance(event, RunFinished) or ctx.state is None:
        return
    keys = [run_key(event.forge, event.repo, event.run_id)]
    if event.workflow and event.branch:
        keys.append(dispatch_key(event.repo, event.workflow, event.branch))
    await post_result(ctx.forge, ctx.state, keys, event.conclusion, event.run_url)

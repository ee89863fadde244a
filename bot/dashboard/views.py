"""The dashboard's pages: server-rendered HTML from the state store, never a forge call.

``/`` the repositories in scope, ``/repos/{forge}/{repo}`` one repository's open PRs/MRs with their
verdicts, merge pool and last merges, ``/jobs`` recent built-in jobs (linked with their own tokens),
``/commands`` the help from the plugins' declarations, ``/audit`` the commands handled.  What a page
shows comes from what the merge passes saved (``bot.merge.snapshot``), ``JobRecords`` and the audit
trail.  Templates escape everything; the Content-Security-Policy allows no script at all.
"""

from __future__ import annotations

import time
from contextvars import ContextVar
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from aiohttp import web
from cachetools import LRUCache
from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup

from bot.audit import AuditTrail
from bot.ci.links import JobLinks
from bot.ci.pages import duration, when
from bot.ci.store import JobRecords
from bot.config import Config
from bot.dashboard.access import Access, local_path
from bot.help import help_entries
from bot.merge.snapshot import merge_pool
from bot.merge.state import MergeState
from bot.notify.health import ChannelHealth
from bot.store.base import StateStore, StoreUnavailable

HERE = Path(__file__).parent
RECENT_JOBS = 100
RECENT_AUDIT = 200
RECENT_MERGES = 20
HEADERS = {
    "Content-Security-Policy": ("default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
                                "base-uri 'none'; frame-ancestors 'none'"),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",  # pages may show private repositories
}
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_started: ContextVar[float] = ContextVar("dashboard_started")  # each request runs in its own task


def repo_path(forge: str, repo: str) -> str:
    return f"/repos/{quote(forge, safe='')}/{quote(repo, safe='/')}"


def _environment() -> Environment:
    env = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(default=True),
                      trim_blocks=True, lstrip_blocks=True)
    env.filters["when"] = when
    env.globals["repo_path"] = repo_path
    env.globals["label_gap"] = Markup('</span> <span class="label">')  # between escaped label names
    env.globals["login_link"] = lambda here: "/login?" + urlencode({"next": local_path(here)})
    return env


class Dashboard:
    def __init__(self, config: Config, state: StateStore, access: Access, *, records: JobRecords | None = None,
                 links: JobLinks | None = None, secure_cookies: bool = False, table_cache: int = 64,
                 channel_health: Callable[[], Awaitable[Mapping[str, ChannelHealth]]] | None = None) -> None:
        self._config = config
        self._channel_health = channel_health  # notification channels, when any (Notifications.shared_health)
        self._merge = MergeState(state)
        self._audit = AuditTrail(state)
        self._access = access
        self._records = records
        self._links = links
        self._secure = secure_cookies  # the public URL is https: the cookie never travels in clear
        self._env = _environment()
        # A repository's PR table changes only with a merge pass: kept per (forge, repo, snapshot rev).
        self._tables: LRUCache[tuple[str, str, str], Markup] | None = LRUCache(table_cache) if table_cache else None
        self._css = (HERE / "dashboard.css").read_bytes()
        self._icon = (HERE / "favicon.svg").read_bytes()

    # ---- rendering ----------------------------------------------------------------------------

    def _render(self, request: web.Request, template: str, status: int = 200, **values: Any) -> web.Response:
        signed_in = values.pop("signed_in", None)
        if signed_in is None:
            signed_in = self._access.signed_in(request)
        text = self._env.get_template(template).render(
            signed_in=signed_in, login_enabled=self._access.login_enabled, here=request.path_qs, **values)
        headers = dict(HEADERS)
        began = _started.get(time.perf_counter())
        # The handler's whole time, store reads included (bench/dashboard.py reads it).
        headers["Server-Timing"] = f"app;dur={(time.perf_counter() - began) * 1000:.2f}"
        return web.Response(text=text, status=status, content_type="text/html", charset="utf-8", headers=headers)

    def _login_needed(self, request: web.Request) -> web.Response:
        response = self._render(request, "login.html", status=401, signed_in=False,
                                next=local_path(request.path_qs), failed=False, configured=self._access.configured)
        response.headers["WWW-Authenticate"] = 'Bearer realm="prowlet dashboard"'
        return response

    def _timed(self, handler: Handler) -> Handler:
        async def timed(request: web.Request) -> web.StreamResponse:
            _started.set(time.perf_counter())
            try:
                return await handler(request)
            except StoreUnavailable:
                return web.Response(status=503, text="the store is unavailable; try again shortly\n",
                                    content_type="text/plain", headers=HEADERS)

        return timed

    # ---- pages ---------------------------------------------------------------------------------

    async def overview(self, request: web.Request) -> web.Response:
        signed_in = self._access.signed_in(request)
        snapshots = await self._merge.snapshots()
        merge = self._config.raw.merge
        # Repositories the config no longer merges keep their stored state, but are not listed.
        in_scope = {(f, r) for f, r in await self._merge.repos() | set(snapshots) if merge and merge.applies_to(r)}
        repos, hidden = [], 0
        for forge, repo in sorted(in_scope):
            if not self._access.can_see(repo, signed_in):
                hidden += 1
                continue
            snapshot = snapshots.get((forge, repo)) or {"pulls": []}
            pool = merge_pool(snapshot)
            repos.append({"forge": forge, "repo": repo, "open": len(snapshot["pulls"]),
                          "pool": sum(len(p) for p in pool.values()), "branches": len(pool),
                          "last_pass": await self._merge.last_pass(forge, repo)})
        channels = []
        if self._channel_health is not None and signed_in:  # errors may name private repositories' changes
            kinds = {name: c.kind for name, c in self._config.raw.notify.channels.items()}
            channels = [{"name": name, "kind": kinds.get(name, ""), "health": health}
                        for name, health in sorted((await self._channel_health()).items())]
        return self._render(request, "overview.html", signed_in=signed_in, repos=repos, hidden=hidden,
                            merge_on=self._config.raw.merge is not None, configured=self._access.configured,
                            channels=channels)

    async def repository(self, request: web.Request) -> web.Response:
        forge, repo = request.match_info["forge"], request.match_info["repo"]
        signed_in = self._access.signed_in(request)
        if not self._access.can_see(repo, signed_in):
            return self._login_needed(request)  # also for one that does not exist: nothing is given away
        snapshot = await self._merge.snapshot(forge, repo)
        if snapshot is None:
            return self._render(request, "message.html", status=404, signed_in=signed_in, title="Not found",
                                message=f"No merge pass has looked at {forge}: {repo} yet.")
        merges = await self._merge.merges(forge, repo, RECENT_MERGES)
        return self._render(request, "repo.html", signed_in=signed_in, forge=forge, repo=repo,
                            table=self._pull_table(forge, repo, snapshot), pulls=snapshot["pulls"],
                            pool=merge_pool(snapshot), merges=merges,
                            last_pass=await self._merge.last_pass(forge, repo))

    def _pull_table(self, forge: str, repo: str, snapshot: dict[str, Any]) -> Markup:
        key = (forge, repo, str(snapshot.get("rev", "")))
        if self._tables is not None and key[2] and key in self._tables:
            return self._tables[key]
        table = Markup(self._env.get_template("pulls.html").render(pulls=snapshot["pulls"]))
        if self._tables is not None and key[2]:
            self._tables[key] = table
        return table

    async def jobs(self, request: web.Request) -> web.Response:
        signed_in = self._access.signed_in(request)
        rows, hidden = [], 0
        if self._records is not None and self._links is not None:
            for record in await self._records.recent(RECENT_JOBS):
                if not self._access.can_see(record.repo, signed_in):
                    hidden += 1
                    continue
                rows.append({"record": record, "path": self._links.path(record.id), "duration": duration(record)})
        return self._render(request, "jobs.html", signed_in=signed_in, rows=rows, hidden=hidden, limit=RECENT_JOBS)

    async def commands(self, request: web.Request) -> web.Response:
        config = self._config
        plugins = (*config.registry, *config.alias_plugins())  # built-in, third-party, config-defined
        return self._render(request, "commands.html", entries=help_entries(plugins, config.commands.prefix),
                            prefix=config.commands.prefix)

    async def audit(self, request: web.Request) -> web.Response:
        signed_in = self._access.signed_in(request)
        entries = [e for e in await self._audit.recent(RECENT_AUDIT) if self._access.can_see(e.repo, signed_in)]
        return self._render(request, "audit.html", signed_in=signed_in, entries=entries, limit=RECENT_AUDIT)

    # ---- signing in ----------------------------------------------------------------------------

    async def login_form(self, request: web.Request) -> web.Response:
        return self._render(request, "login.html", next=local_path(request.query.get("next", "/")), failed=False,
                            configured=self._access.configured)

    async def login(self, request: web.Request) -> web.Response:
        form = await request.post()
        target = local_path(str(form.get("next", "/")))
        if not self._access.token_matches(str(form.get("token", ""))):
            return self._render(request, "login.html", status=401, signed_in=False, next=target, failed=True,
                                configured=self._access.configured)
        response = web.Response(status=303, headers={**HEADERS, "Location": target})
        self._access.set_session(response, self._secure or request.secure)
        return response

    async def logout(self, request: web.Request) -> web.Response:
        response = web.Response(status=303, headers={**HEADERS, "Location": "/"})
        self._access.clear_session(response)
        return response

    async def stylesheet(self, request: web.Request) -> web.Response:
        return web.Response(body=self._css, content_type="text/css", charset="utf-8",
                            headers={"X-Content-Type-Options": "nosniff", "Cache-Control": "max-age=3600"})

    async def favicon(self, request: web.Request) -> web.Response:
        return web.Response(body=self._icon, content_type="image/svg+xml",
                            headers={"X-Content-Type-Options": "nosniff", "Cache-Control": "max-age=86400"})

    def routes(self) -> list[web.RouteDef]:
        t = self._timed
        return [
            web.get("/", t(self.overview)),
            web.get("/repos/{forge}/{repo:.+}", t(self.repository)),
            web.get("/jobs", t(self.jobs)),
            web.get("/commands", t(self.commands)),
            web.get("/audit", t(self.audit)),
            web.get("/login", t(self.login_form)),
            web.post("/login", t(self.login)),
            web.post("/logout", t(self.logout)),
            web.get("/dashboard.css", self.stylesheet),
            web.get("/favicon.svg", self.favicon),
        ]

"""Job pages: where a commit status's "Details" link leads.

``GET /jobs/{id}/{token}`` (HTML, refreshing while the job runs) and ``GET /jobs/{id}/{token}/log``
(text/plain): without the job's own token (``bot.ci.links``) both answer 404, as for a job that does
not exist.  The list of recent jobs is the dashboard's ``/jobs`` (bot/dashboard).  Ids are checked
against ``[0-9a-f]{32}`` before anything touches the disk, logs and every field are HTML-escaped, and every page forbids scripts (Content-Security-Policy), so a job
printing ``<script>`` shows it and nothing more.  Records and logs come from ``JobRecords`` and
``JobLogs``: with the shared store, any replica serves any job, whichever process ran it.
"""

from __future__ import annotations

import html
import time
from aiohttp import web

from bot.ci.limits import human_size
from bot.ci.links import JobLinks
from bot.ci.store import JobLogs, JobRecord, JobRecords, valid_id

PAGE_LOG_BYTES = 256 * 1024  # the page shows the log's tail; /log has all of it
_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
_STYLE = (
    "body{font-family:sans-serif;margin:1.5em}pre{background:#111;color:#ddd;padding:1em;overflow-x:auto;"
    "white-space:pre-wrap}td,th{padding:.2em .8em;text-align:left}.success{color:#1a7f37}"
    ".failure,.error{color:#cf222e}.pending,.running{color:#9a6700}"
)


def when(ts: float | None) -> str:
    """A timestamp as the job pages and the dashboard show it; "—" for none."""
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(ts)) if ts is not None else "—"


def duration(record: JobRecord) -> str:
    """How long the job ran, or has been running."""
    end = record.finished_at if record.finished_at is not None else time.time()
    return f"{max(end - record.started_at, 0):.1f}s"


def _page(title: str, body: str, refresh: bool = False) -> web.Response:
    meta = '<meta http-equiv="refresh" content="5">' if refresh else ""
    text = (
        f'<!DOCTYPE html><html><head><meta charset="utf-8">{meta}<title>{html.escape(title)}</title>'
        f"<style>{_STYLE}</style></head><body>{body}</body></html>"
    )
    return web.Response(text=text, content_type="text/html", charset="utf-8", headers=_HEADERS)


def _not_found() -> web.Response:
    return web.Response(status=404, text="no such job\n", content_type="text/plain", headers=_HEADERS)


def job_routes(records: JobRecords, logs: JobLogs, links: JobLinks, log_retention: str = "") -> list[web.RouteDef]:
    async def lookup(request: web.Request) -> JobRecord | None:
        job_id, token = request.match_info["id"], request.match_info["token"]
        if not valid_id(job_id) or not links.valid(job_id, token):
            return None
        return await records.get(job_id)

    async def page(request: web.Request) -> web.Response:
        record = await lookup(request)
        if record is None:
            return _not_found()
        tail = await logs.tail(record.id, PAGE_LOG_BYTES)
        text = tail.data.decode(errors="replace")
        e = html.escape
        fields = [
            ("job", e(record.job)),
            ("repository", f"{e(record.forge)}: {e(record.repo)}"),
            ("number", f"#{record.number}"),
            ("commit", f"<code>{e(record.sha)}</code>"),
            ("state", f'<span class="{e(record.state)}">{e(record.state)}</span>'),
            ("description", e(record.description)),
            ("started", when(record.started_at)),
            ("finished", when(record.finished_at)),
            ("duration", duration(record)),
            ("exit code", "—" if record.exit_code is None else str(record.exit_code)),
        ]
        table = "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in fields)
        note = f"<p>Showing the last {PAGE_LOG_BYTES // 1024} KiB.</p>" if tail.size > PAGE_LOG_BYTES else ""
        if tail.dropped and logs.keep is not None:
            note += (f"<p>The shared store keeps the last {human_size(logs.keep)} of each log: the first "
                     f"{tail.dropped:,} of its {tail.size:,} bytes are gone.</p>")
        if record.finished and not tail.exists:
            kept = f" (logs are kept for {e(log_retention)})" if log_retention else ""
            note = f"<p>The log has been deleted{kept}.</p>"
        body = (
            f"<h1>{e(record.job)}</h1><table>{table}</table>"
            f'<h2>Log</h2><p><a href="{e(links.path(record.id))}/log">plain text</a></p>{note}<pre>{e(text)}</pre>'
        )
        return _page(f"{record.job} {record.state}", body, refresh=not record.finished)

    async def plain_log(request: web.Request) -> web.StreamResponse:
        record = await lookup(request)
        if record is None:
            return _not_found()
        path = logs.local_path(record.id)
        if path is not None:
            if not path.exists():
                return web.Response(text="", content_type="text/plain", charset="utf-8", headers=_HEADERS)
            return web.FileResponse(path, headers={**_HEADERS, "Content-Type": "text/plain; charset=utf-8"})
        tail = await logs.tail(record.id)  # at most what the shared store keeps
        return web.Response(body=tail.data, content_type="text/plain", charset="utf-8", headers=_HEADERS)

    return [
        web.get("/jobs/{id}/{token}", page),
        web.get("/jobs/{id}/{token}/log", plain_log),
    ]

"""Job pages: /jobs, /jobs/{id} (HTML), /jobs/{id}/log (text/plain), from a store filled by hand."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from bot.ci.pages import PAGE_LOG_BYTES, job_routes
from bot.ci.store import JobRecord, JobStore

SHA = "c0ffee" + "0" * 34


@pytest.fixture
def store(tmp_path: Path) -> JobStore:
    s = JobStore(tmp_path / "jobs.sqlite3")
    yield s
    s.close()


@pytest.fixture
async def client(store: JobStore) -> AsyncIterator[TestClient]:
    app = web.Application()
    app.add_routes(job_routes(store))
    async with TestClient(TestServer(app)) as c:
        yield c


def make(store: JobStore, job: str = "unit", log: str | None = None, **finish: object) -> JobRecord:
    record = store.create(job=job, forge="github", repo="acme/widgets", number=12, sha=SHA)
    if log is not None:
        store.log_path(record.id).write_text(log)
    if finish:
        store.finish(record.id, **finish)  # type: ignore[arg-type]
    return store.get(record.id)


@pytest.mark.parametrize(
    "path",
    [
        "/jobs/{unknown}",
        "/jobs/{unknown}/log",
        "/jobs/{upper}",  # ids are lowercase hex: no normalising
        "/jobs/{upper}/log",
        "/jobs/{short}",
        "/jobs/..%2F..%2Fjobs.sqlite3",
        "/jobs/..%2Fjobs.sqlite3/log",
        "/jobs/{known}x",
        "/jobs/{known}/log/extra",
    ],
)
async def test_unknown_or_malformed_ids_are_404(client: TestClient, store: JobStore, path: str) -> None:
    known = make(store, log="secret-ish log\n").id
    url = path.format(unknown="0" * 32, upper=known.upper(), short=known[:31], known=known)
    async with client.get(url) as resp:
        assert resp.status == 404
        assert "secret-ish" not in await resp.text()
    async with client.get(f"/jobs/{known}/log") as resp:  # the known one is there
        assert resp.status == 200


@pytest.mark.parametrize(
    ("finish", "state", "refresh", "exit_text"),
    [
        ({}, "pending", True, "—"),
        ({"state": "success", "description": "Job succeeded.", "exit_code": 0}, "success", False, "0"),
        ({"state": "failure", "description": "Job failed (exit 2).", "exit_code": 2}, "failure", False, "2"),
        ({"state": "error", "description": "Job timed out after 30m."}, "error", False, "—"),
    ],
)
async def test_job_page(
    client: TestClient, store: JobStore, finish: dict, state: str, refresh: bool, exit_text: str
) -> None:
    record = make(store, log="step 1\n<b>bold</b> & more\n", **finish)

    async with client.get(f"/jobs/{record.id}") as resp:
        assert resp.status == 200 and resp.content_type == "text/html"
        assert "default-src 'none'" in resp.headers["Content-Security-Policy"]
        page = await resp.text()
    assert ('<meta http-equiv="refresh" content="5">' in page) is refresh
    for text in ("unit", "acme/widgets", "#12", SHA, f">{state}<", record.description, "step 1"):
        assert text in page, text
    assert re.search(rf"<th>exit code</th><td>{exit_text}</td>", page)
    assert "&lt;b&gt;bold&lt;/b&gt; &amp; more" in page and "<b>bold" not in page
    assert f'href="{record.id}/log"' in page


async def test_running_job_page_refreshes(client: TestClient, store: JobStore) -> None:
    record = make(store)
    store.update(record.id, state="running")
    async with client.get(f"/jobs/{record.id}") as resp:
        page = await resp.text()
    assert '<meta http-equiv="refresh" content="5">' in page and ">running<" in page


async def test_page_shows_the_tail_of_a_long_log(client: TestClient, store: JobStore) -> None:
    log = "FIRST LINE\n" + "x" * PAGE_LOG_BYTES + "\nLAST LINE\n"
    record = make(store, log=log, state="success", description="Job succeeded.", exit_code=0)
    async with client.get(f"/jobs/{record.id}") as resp:
        page = await resp.text()
    assert "LAST LINE" in page and "FIRST LINE" not in page and "Showing the last" in page
    async with client.get(f"/jobs/{record.id}/log") as resp:
        assert await resp.text() == log  # the plain log is whole


@pytest.mark.parametrize("log", ["line one\n<script>alert(1)</script>\n\u00e9t\u00e9 ✓\n", None])
async def test_plain_log(client: TestClient, store: JobStore, log: str | None) -> None:
    record = make(store, log=log)
    async with client.get(f"/jobs/{record.id}/log") as resp:
        assert resp.status == 200
        assert resp.content_type == "text/plain" and resp.charset == "utf-8"
        assert resp.headers["X-Content-Type-Options"] == "nosniff"
        assert await resp.text() == (log or "")


async def test_index_lists_the_100_most_recent(client: TestClient, store: JobStore) -> None:
    records = [make(store, job=f"job-{i:03d}") for i in range(105)]
    store.finish(records[-1].id, "failure", "Job failed (exit 1).", 1)
    make(store, job="x<y>")  # escaped like everything else (not a valid JobSpec name, but the store takes it)

    async with client.get("/jobs") as resp:
        assert resp.status == 200 and resp.content_type == "text/html"
        page = await resp.text()
    links = re.findall(r'href="jobs/([0-9a-f]{32})"', page)
    assert len(links) == 100
    newest_first = [r.id for r in reversed(records)][:99]
    assert links[1:] == newest_first
    assert "x&lt;y&gt;" in page and "x<y>" not in page
    for old in records[:6]:
        assert old.id not in page
    assert "Job failed (exit 1)." in page

"""Job pages: /jobs/{id}/{token} (HTML), /jobs/{id}/{token}/log (text/plain), from a store filled by
hand.  The list at /jobs is the dashboard's (tests/test_dashboard_e2e.py)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from bot.ci.links import JobLinks
from bot.ci.pages import PAGE_LOG_BYTES, job_routes
from bot.ci.store import FileJobLogs, JobRecord, JobStore, SqliteJobRecords

SHA = "c0ffee" + "0" * 34
LINKS = JobLinks("https://prowlet.example.com", b"k" * 32)


@pytest.fixture
def store(tmp_path: Path) -> JobStore:
    s = JobStore(tmp_path / "jobs.sqlite3")
    yield s
    s.close()


@pytest.fixture
async def client(store: JobStore) -> AsyncIterator[TestClient]:
    app = web.Application()
    app.add_routes(job_routes(SqliteJobRecords(store), FileJobLogs(store), LINKS, "30d"))
    async with TestClient(TestServer(app)) as c:
        yield c


def make(store: JobStore, job: str = "unit", log: str | None = None, **finish: object) -> JobRecord:
    record = store.create(job=job, forge="github", repo="acme/widgets", number=12, sha=SHA)
    if log is not None:
        store.log_path(record.id).write_text(log)
    if finish:
        store.finish(record.id, **finish)  # type: ignore[arg-type]
    return store.get(record.id)


def page(record: JobRecord) -> str:
    return LINKS.path(record.id)


@pytest.mark.parametrize(
    "path",
    [
        pytest.param("/jobs/{known}", id="no-token"),
        pytest.param("/jobs/{known}/log", id="no-token-log"),
        pytest.param("/jobs/{known}/{other_token}", id="another-jobs-token"),
        pytest.param("/jobs/{known}/{other_token}/log", id="another-jobs-token-log"),
        pytest.param("/jobs/{known}/{token_upper}", id="token-upper-case"),
        pytest.param("/jobs/{known}/{token_short}", id="token-cut-short"),
        pytest.param("/jobs/{unknown}/{unknown_token}", id="unknown-id-with-its-token"),
        pytest.param("/jobs/{upper}/{token}", id="id-upper-case"),  # ids are lowercase hex: no normalising
        pytest.param("/jobs/{short}/{token}/log", id="id-cut-short"),
        pytest.param("/jobs/..%2F..%2Fjobs.sqlite3/{token}", id="traversal-id"),
        pytest.param("/jobs/{known}/..%2F..%2Fjob-links.key", id="traversal-token"),
        pytest.param("/jobs/{known}/{token}x", id="token-with-extra"),
        pytest.param("/jobs/{known}/{token}/log/extra", id="log-with-extra"),
    ],
)
async def test_without_the_right_token_or_id_everything_is_404(client: TestClient, store: JobStore, path: str) -> None:
    known = make(store, log="secret-ish log\n")
    other = make(store, job="other")
    token = LINKS.token(known.id)
    url = path.format(unknown="0" * 32, unknown_token=LINKS.token("0" * 32), upper=known.id.upper(),
                      short=known.id[:31], known=known.id, token=token, other_token=LINKS.token(other.id),
                      token_upper=token.upper(), token_short=token[:-1])
    async with client.get(url) as resp:
        assert resp.status == 404
        text = await resp.text()
        assert "secret-ish" not in text and known.id not in text
    async with client.get(page(known) + "/log") as resp:  # with its token, the known one is there
        assert resp.status == 200 and await resp.text() == "secret-ish log\n"


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

    async with client.get(page(record)) as resp:
        assert resp.status == 200 and resp.content_type == "text/html"
        assert "default-src 'none'" in resp.headers["Content-Security-Policy"]
        html = await resp.text()
    assert ('<meta http-equiv="refresh" content="5">' in html) is refresh
    for text in ("unit", "acme/widgets", "#12", SHA, f">{state}<", record.description, "step 1"):
        assert text in html, text
    assert re.search(rf"<th>exit code</th><td>{exit_text}</td>", html)
    assert "&lt;b&gt;bold&lt;/b&gt; &amp; more" in html and "<b>bold" not in html
    assert f'href="{LINKS.path(record.id)}/log"' in html


async def test_running_job_page_refreshes(client: TestClient, store: JobStore) -> None:
    record = make(store)
    store.update(record.id, state="running")
    async with client.get(page(record)) as resp:
        html = await resp.text()
    assert '<meta http-equiv="refresh" content="5">' in html and ">running<" in html


async def test_page_shows_the_tail_of_a_long_log(client: TestClient, store: JobStore) -> None:
    log = "FIRST LINE\n" + "x" * PAGE_LOG_BYTES + "\nLAST LINE\n"
    record = make(store, log=log, state="success", description="Job succeeded.", exit_code=0)
    async with client.get(page(record)) as resp:
        html = await resp.text()
    assert "LAST LINE" in html and "FIRST LINE" not in html and "Showing the last" in html
    async with client.get(page(record) + "/log") as resp:
        assert await resp.text() == log  # the plain log is whole


@pytest.mark.parametrize("log", ["line one\n<script>alert(1)</script>\n\u00e9t\u00e9 ✓\n", None])
async def test_plain_log(client: TestClient, store: JobStore, log: str | None) -> None:
    record = make(store, log=log)
    async with client.get(page(record) + "/log") as resp:
        assert resp.status == 200
        assert resp.content_type == "text/plain" and resp.charset == "utf-8"
        assert resp.headers["X-Content-Type-Options"] == "nosniff"
        assert await resp.text() == (log or "")


async def test_a_log_past_its_retention_is_gone_and_the_page_says_so(client: TestClient, store: JobStore) -> None:
    import time

    old = make(store, log="old output\n", state="success", description="Job succeeded.", exit_code=0)
    running = make(store, log="still running\n")
    assert store.delete_logs(time.time() + 1) == 1  # only finished jobs' logs go
    assert not store.log_path(old.id).exists() and store.log_path(running.id).exists()
    async with client.get(page(old)) as resp:
        html = await resp.text()
    assert resp.status == 200 and "The log has been deleted (logs are kept for 30d)." in html
    async with client.get(page(old) + "/log") as resp:
        assert resp.status == 200 and await resp.text() == ""
    assert store.delete_logs(time.time() + 1) == 0

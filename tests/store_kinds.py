"""The ``stores`` fixture over every kind of store: in memory, SQLite, and Redis (a real
redis-server), for the tests that hold all three to one behaviour."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.store import Stores, open_stores


@pytest.fixture(params=["memory", "sqlite", "redis"])
async def stores(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Stores]:
    if request.param == "redis":
        server = request.getfixturevalue("redis_server")
        opened = open_stores(tmp_path, server.url, redis_prefix=request.getfixturevalue("redis_prefix"))
    else:
        opened = open_stores(tmp_path, kind=request.param)
    yield opened
    await opened.close()

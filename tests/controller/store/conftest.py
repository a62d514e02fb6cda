"""The store under test: each contract test runs on SQLite (a real file) and on the memory store."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from controller.domain.store import Store
from controller.store.memory_store import MemoryStore
from controller.store.sqlite_store import SqliteStore


@pytest_asyncio.fixture(loop_scope="function", params=["sqlite", "memory"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    opened: SqliteStore | MemoryStore
    opened = await SqliteStore.open(tmp_path / "controller.db") if request.param == "sqlite" else MemoryStore()
    yield opened
    await opened.close()


@pytest_asyncio.fixture(loop_scope="function")
async def sqlite_store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    opened = await SqliteStore.open(tmp_path / "controller.db")
    yield opened
    await opened.close()

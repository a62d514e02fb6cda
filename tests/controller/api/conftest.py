"""Servicers through a real in-process controller (see served_controller.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest_asyncio

from served_controller import Served, served_controller


@pytest_asyncio.fixture(loop_scope="function")
async def served(tmp_path: Path) -> AsyncIterator[Served]:
    async with served_controller(tmp_path / "controller") as s:
        yield s

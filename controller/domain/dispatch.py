"""The loops that move work: placing pending tasks, and noticing lost nodes.

Each pass is one call (`dispatch_once`, `check_once`) that tests drive directly;
`run()` repeats it. A failed pass changed nothing (commits are atomic) and is
retried; the controller's supervisor restarts a loop that dies anyway.
"""

from __future__ import annotations

import asyncio
import contextlib

import structlog

from controller.domain.nodes import NodeBook
from controller.domain.task_book import TaskBook
from controller.domain.task_placement import TaskPlacement

log = structlog.get_logger(__name__)


class Dispatcher:
    """Runs a scheduling pass whenever something changed, and at least every `tick`."""

    def __init__(self, book: TaskBook, placement: TaskPlacement, *, tick_seconds: float = 1.0) -> None:
        self.book = book
        self.placement = placement
        self.tick_seconds = tick_seconds

    async def dispatch_once(self) -> int:
        return len(await self.placement.schedule())

    async def run(self) -> None:
        while True:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self.book.wakeup.wait(), self.tick_seconds)
            self.book.wakeup.clear()
            try:
                await self.dispatch_once()
            except Exception:
                log.exception("scheduling pass failed; nothing was placed; retrying on the next tick")


class LivenessMonitor:
    """Declares nodes lost after their heartbeat TTL (or restart grace) and requeues their work."""

    def __init__(self, nodes: NodeBook) -> None:
        self.nodes = nodes

    async def check_once(self) -> list[str]:
        return await self.nodes.expire()

    async def run(self) -> None:
        interval = max(0.05, self.nodes.registry.ttl_seconds / 4)
        while True:
            await asyncio.sleep(interval)
            try:
                await self.check_once()
            except Exception:
                log.exception("liveness check failed; nothing changed; retrying")

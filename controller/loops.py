"""The controller's background loops (dispatcher, liveness, output models), watched.

A loop that raises or returns is logged and started again after a pause, so the
controller never goes on serving without one of them; `stop()` is safe to call twice.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
from collections.abc import Awaitable, Callable, Mapping

import structlog

log = structlog.get_logger(__name__)

Loop = Callable[[], Awaitable[None]]


class LoopSupervisor:
    def __init__(self, loops: Mapping[str, Loop], *, restart_delay_seconds: float = 1.0) -> None:
        self.loops = dict(loops)
        self.restart_delay_seconds = restart_delay_seconds
        #: Loop name -> how many times it was restarted.
        self.restarts: collections.Counter[str] = collections.Counter()
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        self._tasks = [asyncio.create_task(self._watch(name, run), name=name) for name, run in self.loops.items()]

    async def _watch(self, name: str, run: Loop) -> None:
        while True:
            try:
                await run()
                log.error("controller loop returned; starting it again", loop=name)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("controller loop failed; starting it again", loop=name,
                              in_seconds=self.restart_delay_seconds)  # fmt: skip
            self.restarts[name] += 1
            await asyncio.sleep(self.restart_delay_seconds)

    async def stop(self) -> None:
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

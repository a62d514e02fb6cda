"""Wake-ups for watchers of a task (WatchTask, following logs).

A watcher asks for `next_change(task_id)` *before* reading the task, so a change
that lands between the read and the wait is never missed.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict


class ChangeFeed:
    def __init__(self) -> None:
        self._waiters: dict[str, set[asyncio.Future[None]]] = defaultdict(set)

    def next_change(self, task_id: str) -> asyncio.Future[None]:
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters[task_id].add(fut)
        fut.add_done_callback(lambda f: self._discard(task_id, f))
        return fut

    def publish(self, task_id: str) -> None:
        for fut in list(self._waiters.get(task_id, ())):
            if not fut.done():
                fut.set_result(None)

    def _discard(self, task_id: str, fut: asyncio.Future[None]) -> None:
        waiters = self._waiters.get(task_id)
        if waiters is not None:
            waiters.discard(fut)
            if not waiters:
                del self._waiters[task_id]

    @staticmethod
    async def wait(fut: asyncio.Future[None], timeout: float) -> None:
        """Wait for a change or the timeout, whichever is first; cancels the future after."""
        try:
            await asyncio.wait_for(asyncio.shield(fut), timeout)
        except asyncio.TimeoutError:
            pass
        finally:
            fut.cancel()

"""A clock for the agent's parts that moves only when a test says so (agent.clock.Clock)."""

from __future__ import annotations

import asyncio
import heapq
import itertools
from typing import Callable


class _Timer:
    def __init__(self, callback: Callable[[], None]) -> None:
        self.callback = callback
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class ManualClock:
    """`advance(seconds)` moves time on and runs, in order, whatever fell due on the way."""

    def __init__(self, start: float = 0.0) -> None:
        self.now = start
        self._timers: list[tuple[float, int, _Timer]] = []
        self._order = itertools.count()
        #: The duration of every sleep() asked for, in order.
        self.sleeps: list[float] = []
        self._slept = asyncio.Condition()

    def monotonic(self) -> float:
        return self.now

    def call_later(self, seconds: float, callback: Callable[[], None]) -> _Timer:
        timer = _Timer(callback)
        heapq.heappush(self._timers, (self.now + max(seconds, 0.0), next(self._order), timer))
        return timer

    async def sleep(self, seconds: float) -> None:
        woken = asyncio.get_running_loop().create_future()
        self.call_later(seconds, lambda: woken.done() or woken.set_result(None))
        self.sleeps.append(seconds)
        async with self._slept:
            self._slept.notify_all()
        await woken

    async def next_sleep(self, after: int, timeout: float = 10.0) -> float:
        """The duration of sleep number `after` + 1, once someone asks for it (real `timeout`)."""
        async with self._slept:
            await asyncio.wait_for(self._slept.wait_for(lambda: len(self.sleeps) > after), timeout)
        return self.sleeps[after]

    @property
    def due(self) -> list[float]:
        """When each pending timer falls due."""
        return sorted(when for when, _, timer in self._timers if not timer.cancelled)

    async def advance(self, seconds: float) -> None:
        target = self.now + seconds
        while self._timers and self._timers[0][0] <= target + 1e-9:  # as due as makes no difference
            when, _, timer = heapq.heappop(self._timers)
            self.now = when
            if not timer.cancelled:
                timer.callback()
            await _settle()
        self.now = target
        await _settle()


async def _settle() -> None:
    """Let the coroutines just woken run up to their next wait."""
    for _ in range(5):
        await asyncio.sleep(0)

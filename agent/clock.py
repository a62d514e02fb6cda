"""Time as the agent's parts see it, injected so that tests can drive it.

Everything in the agent that waits on time (reconnect backoff, heartbeats, log
flushes, progress coalescing, NVML retries) asks a `Clock` rather than the event
loop or `time` directly. `LoopClock` is the real one; tests pass one they advance
by hand, and run deterministically without real sleeps.
"""

from __future__ import annotations

import asyncio
import time
from typing import Callable, Protocol


class Timer(Protocol):
    def cancel(self) -> None:
        """Do not call the callback after all (a no-op once it ran)."""


class Clock(Protocol):
    def monotonic(self) -> float:
        """Seconds from an arbitrary start; never goes back."""

    async def sleep(self, seconds: float) -> None:
        """Return after `seconds`."""

    def call_later(self, seconds: float, callback: Callable[[], None]) -> Timer:
        """Call `callback` on the event loop after `seconds`."""


class LoopClock:
    """Real time: `time.monotonic()`, which asyncio's loop clock also reads, and the loop's timers."""

    def monotonic(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)

    def call_later(self, seconds: float, callback: Callable[[], None]) -> Timer:
        return asyncio.get_running_loop().call_later(seconds, callback)


async def sleep_unless(clock: Clock, seconds: float, event: asyncio.Event) -> bool:
    """Sleep `seconds` on `clock`, or less if `event` is set first; True when it was."""
    if event.is_set():
        return True
    sleeper = asyncio.ensure_future(clock.sleep(seconds))
    setter = asyncio.ensure_future(event.wait())
    try:
        await asyncio.wait({sleeper, setter}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        sleeper.cancel()
        setter.cancel()
    return event.is_set()

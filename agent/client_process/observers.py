"""Observers (seeds/000, "Monitor API"): each gets the figures pushed at its own frequency.

Every observer has its own asyncio task and short timeouts, so one that is slow or gone
delays neither the load clients nor the other observers; a failing one is retried with
exponential backoff with jitter.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from typing import Any, Callable

import aiohttp
import structlog
from yarl import URL

from agent.backoff import Backoff

log = structlog.get_logger(__name__)

DEFAULT_INTERVAL_SECONDS = 10.0
MIN_INTERVAL_SECONDS = 0.1
#: Longest wait between pushes to an observer that keeps failing.
MAX_RETRY_SECONDS = 30.0
#: One push never waits longer than this, whatever the frequency.
MAX_PUSH_TIMEOUT_SECONDS = 5.0
_FREQUENCY = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m)?\s*$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, None: 1.0}


def parse_frequency(value: Any) -> float:
    """"10s", "500ms", "1m" or a number of seconds; never under MIN_INTERVAL_SECONDS."""
    if isinstance(value, bool):
        raise ValueError("frequency must be like \"10s\", \"500ms\" or a number of seconds")
    if isinstance(value, (int, float)):
        seconds = float(value)
    elif isinstance(value, str) and (match := _FREQUENCY.match(value)):
        seconds = float(match[1]) * _UNIT_SECONDS[match[2]]
    else:
        raise ValueError("frequency must be like \"10s\", \"500ms\" or a number of seconds")
    if seconds <= 0:
        raise ValueError("frequency must be positive")
    return max(MIN_INTERVAL_SECONDS, seconds)


@dataclass(frozen=True)
class Observer:
    ip_address: str
    port: int
    interval: float = DEFAULT_INTERVAL_SECONDS

    @property
    def url(self) -> URL:
        return URL.build(scheme="http", host=self.ip_address, port=self.port, path="/")

    @classmethod
    def from_body(cls, body: Any) -> Observer:
        """From a ``POST /observer`` body; ValueError says what is wrong with it."""
        if not isinstance(body, dict):
            raise ValueError("the body must be a JSON object")
        ip_address, port = body.get("ip_address"), body.get("port")
        if not isinstance(ip_address, str) or not ip_address.strip():
            raise ValueError("ip_address must be a non-empty string")
        # The document says a string; an int is taken too.
        if isinstance(port, bool) or not isinstance(port, (str, int)) or not str(port).strip().isdigit():
            raise ValueError("port must be a port number (a string or an integer)")
        if not 1 <= int(port) <= 65535:
            raise ValueError("port must be in 1..65535")
        preferences = body.get("update_preferences") or {}
        if not isinstance(preferences, dict):
            raise ValueError("update_preferences must be an object")
        if preferences.get("format", "json") != "json":
            raise ValueError("the only format is \"json\"")
        interval = parse_frequency(preferences["frequency"]) if "frequency" in preferences else DEFAULT_INTERVAL_SECONDS
        return cls(ip_address.strip(), int(port), interval)


class Observers:
    """The observers added so far, each pushed to by a task of its own until close()."""

    def __init__(self, session: aiohttp.ClientSession, body: Callable[[], dict[str, Any]]) -> None:
        self._session = session
        self._body = body
        self._tasks: dict[tuple[str, int], asyncio.Task[None]] = {}
        self._observers: dict[tuple[str, int], Observer] = {}

    def __len__(self) -> int:
        return len(self._observers)

    def add(self, observer: Observer) -> None:
        """Adding an observer again (same address) replaces its preferences."""
        key = (observer.ip_address, observer.port)
        if old := self._tasks.pop(key, None):
            old.cancel()
        self._observers[key] = observer
        self._tasks[key] = asyncio.create_task(self._push_loop(observer), name=f"observer {observer.url}")
        log.info("observer added", url=str(observer.url), interval=observer.interval)

    async def push_all(self) -> None:
        """One push to every observer at once (a run's end); failures are only logged."""
        body = self._body()
        await asyncio.gather(*(self._push(o, body) for o in list(self._observers.values())))

    async def close(self) -> None:
        for task in self._tasks.values():
            task.cancel()
        await asyncio.gather(*self._tasks.values(), return_exceptions=True)
        self._tasks.clear()

    async def _push_loop(self, observer: Observer) -> None:
        backoff = Backoff(initial=observer.interval, maximum=max(MAX_RETRY_SECONDS, observer.interval))
        delay = observer.interval
        while True:
            await asyncio.sleep(delay)
            if await self._push(observer, self._body()):
                backoff.failures = 0  # back to the observer's own frequency
                delay = observer.interval
            else:
                delay = observer.interval + backoff.next_delay(0)

    async def _push(self, observer: Observer, body: dict[str, Any]) -> bool:
        timeout = aiohttp.ClientTimeout(total=min(MAX_PUSH_TIMEOUT_SECONDS, max(1.0, observer.interval)))
        try:
            async with self._session.post(observer.url, json=body, timeout=timeout) as answer:
                await answer.read()
                if answer.status >= 400:
                    log.debug("observer refused a push", url=str(observer.url), status=answer.status)
                    return False
                return True
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            log.debug("observer unreachable", url=str(observer.url), error=repr(exc))
            return False

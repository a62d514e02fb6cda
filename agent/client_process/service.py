"""Calls to the client service (seeds/000, "Client Registration API"): register, report figures."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import structlog

from agent.backoff import Backoff

log = structlog.get_logger(__name__)

REPORT_TIMEOUT_SECONDS = 5.0
CONNECT_ATTEMPT_TIMEOUT_SECONDS = 5.0


class RegistrationFailed(Exception):
    """The service never answered 201 to ``connect`` within the deadline."""


class ServiceClient:
    """``{service}/client-group/{id}/...``, with ``Authorization: Bearer`` when a key is set."""

    def __init__(self, base_url: str, benchmark_id: int, session: aiohttp.ClientSession, api_key: str = "") -> None:
        self._group_url = f"{base_url.rstrip('/')}/client-group/{benchmark_id}"
        self._session = session
        self._headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}

    async def register(self, client_address: str, deadline_seconds: float) -> None:
        """``POST .../connect`` until it answers 201; RegistrationFailed after the deadline."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + deadline_seconds
        backoff = Backoff(initial=0.5, maximum=8.0)
        timeout = aiohttp.ClientTimeout(total=CONNECT_ATTEMPT_TIMEOUT_SECONDS)
        last = ""
        while True:
            try:
                async with self._session.post(f"{self._group_url}/connect", json={"client_address": client_address},
                                              headers=self._headers, timeout=timeout) as answer:  # fmt: skip
                    text = await answer.text()
                    if answer.status == 201:
                        log.info("registered with the client service", client_address=client_address)
                        return
                    last = f"HTTP {answer.status}: {text[:200]}"
            except (aiohttp.ClientError, TimeoutError, OSError) as exc:
                last = repr(exc)
            delay = backoff.next_delay(0)
            if loop.time() + delay > deadline:
                raise RegistrationFailed(
                    f"could not register {client_address} at {self._group_url}/connect within "
                    f"{deadline_seconds:g} s; last answer: {last}")
            log.warning("registration failed, retrying", error=last, retry_in=round(delay, 2))
            await asyncio.sleep(delay)

    async def report_figures(self, client_address: str, figures: dict[str, Any]) -> bool:
        """``POST .../figures``; a failure is logged and left to the next report."""
        body = {"client_address": client_address, "figures": figures}
        try:
            async with self._session.post(f"{self._group_url}/figures", json=body, headers=self._headers,
                                          timeout=aiohttp.ClientTimeout(total=REPORT_TIMEOUT_SECONDS)) as answer:  # fmt: skip
                await answer.read()
                if answer.status < 300:
                    return True
                log.warning("the client service refused the figures", status=answer.status)
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            log.warning("could not report figures", error=repr(exc))
        return False

"""How the controller reaches AI Factory client processes: plain HTTP, short deadlines.

A process that cannot be reached is an answer (status 0 and why), not an error: `run` reports
each process's answer, as the document's fan-out does. aiohttp is imported on the first call,
not with the controller: a farm that runs no client group never maps it (the controller's idle
memory is a target).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from controller.domain.client_groups import ProcessAnswer

if TYPE_CHECKING:
    import aiohttp

TIMEOUT_SECONDS = 10.0
#: Most of a process's answer kept (its body is shown as text).
MAX_BODY_CHARS = 64 * 1024


class HttpClientProcessCaller:
    def __init__(self, api_key: str = "", timeout: float = TIMEOUT_SECONDS) -> None:
        #: What the client processes aifarm starts were given (AIFARM_API_KEY): they take POSTs only with it.
        self.api_key = api_key
        self.timeout = timeout
        self._session: aiohttp.ClientSession | None = None

    async def post(self, address: str, path: str, body: Mapping[str, Any] | None) -> ProcessAnswer:
        import aiohttp

        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.timeout))
        data = None if body is None else json.dumps(dict(body))
        headers = {} if body is None else {"content-type": "application/json"}
        if self.api_key:
            headers["authorization"] = f"Bearer {self.api_key}"
        try:
            async with self._session.post(address + path, data=data, headers=headers) as response:
                text = await response.text(errors="replace")
                return ProcessAnswer(address, response.status, text[:MAX_BODY_CHARS])
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            return ProcessAnswer(address, 0, f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

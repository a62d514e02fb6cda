"""A controller and a gateway with its WebSocket door, as real processes on free ports, and a
WebSocket worker written against AI Farm's documented messages (seeds/001)."""

from __future__ import annotations

import asyncio
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, AsyncIterator, Iterator

import aiohttp
import pytest
import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from farm_processes import AGENT_TOKEN, API_KEY, ControllerProcess, GatewayProcess, free_port, wait_for  # noqa: E402

#: Messages a worker may receive besides the one a test waits for.
PASSING = frozenset({"heartbeat_ack"})


@dataclass
class WsFarm:
    controller: ControllerProcess
    gateway: GatewayProcess
    ws_url: str

    def rest(self, method: str, path: str, **kw: Any) -> requests.Response:
        headers = {"Authorization": f"Bearer {API_KEY}", **kw.pop("headers", {})}
        return requests.request(method, self.gateway.url + path, headers=headers, timeout=30, **kw)

    def create_script_task(self, source: str = "print('hi')\n", name: str = "ws-task") -> str:
        reply = self.rest("POST", "/v1/tasks", json={"display_name": name,
                                                      "script": {"source": source, "entrypoint": "main.py"}})
        assert reply.status_code == 201, reply.text
        return reply.json()["name"].removeprefix("tasks/")

    def task(self, task_id: str) -> dict[str, Any]:
        reply = self.rest("GET", f"/v1/tasks/{task_id}")
        assert reply.status_code == 200, reply.text
        return reply.json()

    def wait_task(self, task_id: str, *states: str, timeout: float = 30.0) -> dict[str, Any]:
        return wait_for(lambda: (t := self.task(task_id))["state"] in states and t, timeout=timeout,
                        what=f"task {task_id} to be {'/'.join(states)}")  # fmt: skip


def start_ws_farm(root: Path, controller_args: list[str]) -> Iterator[WsFarm]:
    controller = ControllerProcess(root / "controller", free_port(), extra=controller_args).start()
    ws_port = free_port()
    gateway = GatewayProcess(controller.address, root / "gateway.log",
                             extra=["--websocket-port", str(ws_port), "--websocket-ping", "1"]).start()  # fmt: skip
    try:
        yield WsFarm(controller, gateway, f"ws://127.0.0.1:{ws_port}")
    finally:
        gateway.stop()
        controller.kill()


@pytest.fixture(scope="module")
def farm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WsFarm]:
    """The default: every worker needs the agent token."""
    yield from start_ws_farm(tmp_path_factory.mktemp("wsfarm"), [])


class Worker:
    """One WebSocket worker connection. A reader takes every frame as it comes (so pings are answered,
    as a live worker's library does) until `freeze()`, which makes the worker silent."""

    def __init__(self, session: aiohttp.ClientSession, ws: aiohttp.ClientWebSocketResponse, client_id: str) -> None:
        self.session = session
        self.ws = ws
        self.client_id = client_id
        self.frames: asyncio.Queue[aiohttp.WSMessage] = asyncio.Queue()
        self._reader = asyncio.create_task(self._read())

    @classmethod
    async def connect(cls, url: str, client_id: str, token: str | None = AGENT_TOKEN,
                      headers: dict[str, str] | None = None) -> Worker:  # fmt: skip
        session = aiohttp.ClientSession()
        sent = {"Client-ID": client_id, **(headers or {})}
        if token is not None:
            sent["Authorization"] = f"Bearer {token}"
        ws = await session.ws_connect(url, headers=sent, autoping=True)
        return cls(session, ws, client_id)

    async def _read(self) -> None:
        while True:
            msg = await self.ws.receive()
            await self.frames.put(msg)
            if msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.CLOSING,
                            aiohttp.WSMsgType.ERROR):  # fmt: skip
                return

    def freeze(self) -> None:
        """Stop reading: pings go unanswered, as from a stopped process."""
        self._reader.cancel()

    async def send(self, kind: str | None, **fields: Any) -> None:
        message = ({"type": kind} if kind else {}) | {"client_id": self.client_id} | fields
        await self.ws.send_str(json.dumps(message))

    async def raw(self, timeout: float = 20.0) -> dict[str, Any]:
        """The very next message, whatever it is."""
        msg = await asyncio.wait_for(self.frames.get(), timeout)
        assert msg.type is aiohttp.WSMsgType.TEXT, f"expected a message, got {msg.type.name} {msg.data!r} {msg.extra!r}"
        return json.loads(msg.data)

    async def recv(self, kind: str | None = None, timeout: float = 20.0) -> dict[str, Any]:
        """The next message (of `kind`, skipping acks of heartbeats); AssertionError on a close."""
        async with asyncio.timeout(timeout):
            while True:
                data = await self.raw(timeout)
                if data.get("type") in PASSING and kind not in PASSING:
                    continue
                if kind is None or data.get("type") == kind:
                    return data
                raise AssertionError(f"expected {kind}, got {data}")

    async def closed(self, timeout: float = 20.0) -> tuple[int | None, str]:
        """Wait for the door to close the connection: its close code and reason (messages before it skipped)."""
        async with asyncio.timeout(timeout):
            while True:
                msg = await self.frames.get()
                if msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.CLOSING):
                    return self.ws.close_code, str(msg.extra or "")

    async def close(self) -> None:
        self._reader.cancel()
        await self.ws.close()
        await self.session.close()


@pytest.fixture
async def workers() -> AsyncIterator[list[Worker]]:
    """Workers a test opened, closed after it."""
    opened: list[Worker] = []
    yield opened
    for worker in opened:
        await worker.close()

"""A worker is still its node after the gateway restarts, when the door keeps a state file;
without one, its Client-ID is refused (1008) rather than taken over."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from conftest import Worker
from farm_processes import ControllerProcess, GatewayProcess, free_port

pytestmark = pytest.mark.slow


def _gateway(controller: ControllerProcess, root: Path, http: int, ws: int, state: Path | None) -> GatewayProcess:
    extra = ["--websocket-port", str(ws)] + (["--websocket-state", str(state)] if state else [])
    return GatewayProcess(controller.address, root / "gateway.log", port=http, extra=extra).start()


async def _beats(url: str, client_id: str) -> None:
    worker = await Worker.connect(url, client_id)
    try:
        await worker.send("heartbeat", system_info={"cpu_usage": 3.0})
        await worker.recv("heartbeat_ack")
    finally:
        await worker.close()


async def _refused(url: str, client_id: str) -> None:
    worker = await Worker.connect(url, client_id)
    try:
        await worker.send("heartbeat", system_info={"cpu_usage": 3.0})
        assert (await worker.closed())[0] == 1008
    finally:
        await worker.close()


async def test_the_state_file_outlives_a_gateway_restart(tmp_path: Path) -> None:
    controller = ControllerProcess(tmp_path / "controller", free_port()).start()
    http, ws, state = free_port(), free_port(), tmp_path / "state" / "websocket_nodes.json"
    url = f"ws://127.0.0.1:{ws}"
    gateway = _gateway(controller, tmp_path, http, ws, state)
    try:
        await _beats(url, "kept-worker")
        assert stat.S_IMODE(state.stat().st_mode) == 0o600 and "kept-worker" in state.read_text()
        gateway.stop()
        gateway = _gateway(controller, tmp_path, http, ws, state)
        await _beats(url, "kept-worker")

        # The same restart without the file: the id is admitted, its secret is not here.
        gateway.stop()
        gateway = _gateway(controller, tmp_path, http, ws, None)
        await _refused(url, "kept-worker")
    finally:
        gateway.stop()
        controller.kill()

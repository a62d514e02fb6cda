"""`aifarm up` serves the door (on 8765 unless --websocket-port says otherwise) and records it in
endpoints.json as websocket.aifarm."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import Worker
from farm_processes import REPO, terminate, wait_for
from gateway.listeners import WEBSOCKET_PORT

pytestmark = pytest.mark.slow


async def test_up_records_the_websocket_listener(tmp_path: Path) -> None:
    data_dir = tmp_path / "farm"
    log = (tmp_path / "up.log").open("ab")
    proc = subprocess.Popen(
        [sys.executable, "-m", "cli.main", "up", "--data-dir", str(data_dir), "--grpc-port", "0", "--profiler-grpc-port", "0", "--http-port",
         "main=0", "--http-port", "gswarm_host=0", "--http-port", "profiler=0", "--http-port", "aifactory=0", "--websocket-port", "0", "--no-agent", "--gateway-workers", "2", "--api-keys", "k",
         "--agent-token", "up-token"], cwd=REPO, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        path = data_dir / "endpoints.json"
        wait_for(lambda: path.exists() or proc.poll() is not None, what="endpoints.json")
        url = json.loads(path.read_text())["websocket"]["aifarm"]
        assert url.startswith("ws://127.0.0.1:")
        worker = await Worker.connect(url, "up-worker", token="up-token")
        try:
            await worker.send("heartbeat", system_info={"cpu_usage": 1.0})
            assert (await worker.recv("heartbeat_ack"))["received"] is True
        finally:
            await worker.close()
    finally:
        terminate(proc)


def _free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


@pytest.mark.skipif(not _free(WEBSOCKET_PORT), reason=f"port {WEBSOCKET_PORT} is taken on this machine")
def test_up_serves_the_documented_port_by_default(tmp_path: Path) -> None:
    data_dir = tmp_path / "farm"
    log = (tmp_path / "up.log").open("ab")
    proc = subprocess.Popen(
        [sys.executable, "-m", "cli.main", "up", "--data-dir", str(data_dir), "--grpc-port", "0", "--profiler-grpc-port", "0", "--http-port",
         "main=0", "--http-port", "gswarm_host=0", "--http-port", "profiler=0", "--http-port", "aifactory=0", "--no-agent", "--gateway-workers", "1", "--api-keys", "k"], cwd=REPO, stdout=log,
        stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        path = data_dir / "endpoints.json"
        wait_for(lambda: path.exists() or proc.poll() is not None, what="endpoints.json")
        assert json.loads(path.read_text())["websocket"]["aifarm"] == f"ws://127.0.0.1:{WEBSOCKET_PORT}"
    finally:
        terminate(proc)

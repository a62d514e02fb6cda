"""`aifarm up`: the whole farm in one foreground process, as the README's first command runs it."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import requests

from aifarm.v1 import task_pb2 as T
from farm_processes import REPO, Client, terminate, wait_for


def test_up_runs_controller_gateway_and_agent_and_stops_cleanly(tmp_path: Path) -> None:
    data_dir = tmp_path / "farm"
    log = (tmp_path / "up.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "cli.main", "up", "--data-dir", str(data_dir), "--websocket-port", "0", "--grpc-port", "0", "--profiler-grpc-port", "0",
         "--http-port", "main=0", "--http-port", "gswarm_host=0", "--http-port", "profiler=0", "--http-port", "aifactory=0", "--gswarm-client-port", "0", "--api-keys", "up-key", "--heartbeat-interval", "0.3"],
        cwd=REPO, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        endpoints_file = data_dir / "endpoints.json"
        wait_for(lambda: endpoints_file.exists() or proc.poll() is not None, what="endpoints.json")
        endpoints = json.loads(endpoints_file.read_text())
        assert set(endpoints) == {"grpc", "grpc_profiler", "http", "websocket", "agents", "api_key_file"}
        assert endpoints["websocket"]["aifarm"].startswith("ws://127.0.0.1:")
        assert set(endpoints["http"]) == {"main", "gswarm_host", "profiler", "aifactory"} and endpoints["agents"][0]["node_id"]
        assert requests.get(endpoints["http"]["gswarm_host"] + "/api/v1/models", timeout=10).status_code == 401  # no key
        assert Path(endpoints["api_key_file"]).read_text().split() == ["up-key"]

        client = Client(endpoints["grpc"], key="up-key")
        try:
            nodes = wait_for(client.online_nodes, what="the local agent online")
            assert nodes[0].name == f"nodes/{endpoints['agents'][0]['node_id']}"
            rest = endpoints["http"]["main"]
            created = requests.post(f"{rest}/v1/tasks", json={"script": {"source": "print('up')"}},
                                    headers={"X-API-Key": "up-key"}, timeout=10)  # fmt: skip
            assert created.status_code == 201, created.text
            done = client.wait_state(created.json()["name"], T.TASK_STATE_COMPLETED)
            assert done.node == nodes[0].name
        finally:
            client.close()

        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=20) == 0
        assert not endpoints_file.exists(), "endpoints.json outlived the farm"
        assert not (data_dir / "lock").exists(), "the data directory's lock outlived the farm"
    finally:
        terminate(proc)
        log.close()

"""What a profiling session yields: its JSON report (the session, frames from its nodes, summary
statistics) and its PNG plot, downloaded through the core API (REST), and the farm's figures at
/metrics in Prometheus' text format with dcgm-exporter's names (parsed with prometheus-client's own
parser; on a machine without GPUs the GPU series are absent and the node CPU ones present)."""

from __future__ import annotations

import io
import json
import time

import pytest
import requests
from PIL import Image
from prometheus_client.parser import text_string_to_metric_families

from aifarm.v1 import task_pb2 as T
from farm_processes import API_KEY, Client, ControllerProcess, GatewayProcess, script_task, wait_for

pytestmark = pytest.mark.slow
HEADERS = {"Authorization": f"Bearer {API_KEY}"}


def test_a_stopped_session_yields_its_report_and_plot_and_metrics_parse(controller: ControllerProcess, client: Client,
                                                                        start_agent, tmp_path) -> None:  # fmt: skip
    agents = [start_agent(f"out{i}") for i in range(2)]
    wait_for(lambda: len(client.online_nodes()) == 2, what="both agents online")
    gateway = GatewayProcess(controller.address, tmp_path / "gateway.log").start()
    try:
        base = gateway.url
        created = requests.post(f"{base}/v1/profilingSessions", params={"profiling_session_id": "outputs"},
                                json={"sampling_frequency_ms": 200}, headers=HEADERS, timeout=10)  # fmt: skip
        assert created.status_code == 201, created.text
        wait_for(lambda: len({f["node"] for f in requests.get(f"{base}/v1/profilingSessions/outputs/frames",
                                                                headers=HEADERS, timeout=10).json()["frames"]}) == 2,
                 timeout=20, what="frames from both nodes")  # fmt: skip
        time.sleep(1)
        assert requests.post(f"{base}/v1/profilingSessions/outputs:stop", json={}, headers=HEADERS, timeout=10).ok
        time.sleep(1.5)

        reply = requests.get(f"{base}/v1/profilingSessions/outputs/report", headers=HEADERS, timeout=30)
        assert reply.status_code == 200 and reply.headers["Content-Type"].startswith("application/json"), reply.text
        document = json.loads(reply.content)
        assert document["session"]["name"] == "outputs" and document["session"]["active"] is False
        assert document["session"]["frames"] == len(document["frames"]) >= 10
        assert set(document["summary"]["nodes"]) == {a.node_id for a in agents}
        for figures in document["summary"]["nodes"].values():
            assert 0 <= figures["cpu_percent"]["min"] <= figures["cpu_percent"]["max"] <= 100
            assert 0 < figures["memory_percent"]["mean"] < 100
        assert document["summary"]["gpus"] == {}  # none on this machine

        plot = requests.get(f"{base}/v1/profilingSessions/outputs/report", params={"format": "png"}, headers=HEADERS,
                            timeout=60)  # fmt: skip
        assert plot.status_code == 200 and plot.headers["Content-Type"] == "image/png"
        image = Image.open(io.BytesIO(plot.content))
        image.verify()
        assert image.format == "PNG" and image.size[0] > 100 and image.size[1] > 100
        assert requests.get(f"{base}/v1/profilingSessions/outputs/report", params={"format": "gif"}, headers=HEADERS,
                            timeout=10).status_code == 400  # fmt: skip

        # The same session listed by gswarm's profiler, with where its files are.
        listed = requests.get(f"{gateway.profiler_url}/profiling/sessions", headers=HEADERS, timeout=10).json()
        entry = next(s for s in listed["sessions"] if s["name"] == "outputs")
        assert entry["json_file"] == "/v1/profilingSessions/outputs/report"
        assert entry["plot_file"] == "/v1/profilingSessions/outputs/report?format=png"

        placed = client.create(script_task("print('placed')"))
        client.wait_state(placed.name, T.TASK_STATE_COMPLETED)
        metrics = requests.get(f"{base}/metrics", headers=HEADERS, timeout=10)
        assert metrics.status_code == 200 and metrics.headers["Content-Type"].startswith("text/plain"), metrics.text
        families = {f.name: f for f in text_string_to_metric_families(metrics.text)}
        cpu = {s.labels["node"]: s.value for s in families["aifarm_node_cpu_percent"].samples}
        assert set(cpu) == {a.node_id for a in agents} and all(0 <= v <= 100 for v in cpu.values())
        assert {s.labels["state"] for s in families["aifarm_tasks"].samples} >= {"pending", "running", "completed"}
        assert "DCGM_FI_DEV_GPU_UTIL" in families and families["DCGM_FI_DEV_GPU_UTIL"].samples == []
        latency = {s.name: s.value for s in families["aifarm_dispatch_latency_seconds"].samples}
        assert families["aifarm_dispatch_latency_seconds"].type == "summary"
        assert latency["aifarm_dispatch_latency_seconds_count"] >= 1 and latency["aifarm_dispatch_latency_seconds_sum"] >= 0
        assert requests.get(f"{base}/metrics", timeout=10).status_code == 401  # a key, as everywhere
    finally:
        gateway.stop()

"""AI Farm's WebSocket workers through the gateway's door (seeds/001), each connection one node
session on the controller: the documented messages, the close codes, and requeues."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from conftest import Worker, WsFarm
from farm_processes import API_KEY, wait_for

pytestmark = pytest.mark.slow


def _id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


async def _given(farm: WsFarm, worker: Worker) -> tuple[str, dict]:
    """A script task created through REST and the `task` message the requesting worker gets for it."""
    await worker.send("task_request", timestamp="2024-11-04T12:00:00Z")
    task_id = await asyncio.to_thread(farm.create_script_task)
    message = await worker.recv("task")
    assert message["data"]["id"] == task_id
    return task_id, message


async def test_documented_worker_runs_a_task(farm: WsFarm, workers: list[Worker]) -> None:
    worker = await Worker.connect(farm.ws_url, _id("doc"))
    workers.append(worker)
    await worker.send("heartbeat", system_info={"cpu_usage": 45.2, "ram_usage": 60.5, "gpu_usage": 80.0},
                      timestamp="2024-11-04T12:00:00Z")  # fmt: skip
    await worker.recv("heartbeat_ack")
    node = await asyncio.to_thread(lambda: farm.rest("GET", f"/v1/nodes/{worker.client_id}").json())
    assert node["state"] == "NODE_STATE_ONLINE"
    assert node["usage"]["cpu_percent"] == pytest.approx(45.2)

    task_id, message = await _given(farm, worker)
    data = message["data"]
    assert data["type"] == "script" and data["attempt"] == 1
    assert set(data["requirements"]) >= {"min_gpu_memory", "min_cpu_cores", "min_ram"}
    assert data["config"]["script"]["source"] == "print('hi')\n"
    assert {"name", "batch_size", "learning_rate", "epochs", "distributed", "rank"} <= set(data["config"])
    await asyncio.to_thread(farm.wait_task, task_id, "TASK_STATE_RUNNING")

    await worker.send("task_progress", task_id=task_id, progress=45.5,
                      metrics={"loss": 0.0023, "accuracy": 0.982, "learning_rate": 0.001})  # fmt: skip
    task = await asyncio.to_thread(wait_for, lambda: (t := farm.task(task_id)).get("progress", 0) > 0.4 and t,
                                   what="the progress")  # fmt: skip
    assert task["progress"] == pytest.approx(0.455)
    assert task["metrics"]["loss"] == pytest.approx(0.0023)

    # Paused through the core REST API: the worker is told, and the task shows it.
    assert (await asyncio.to_thread(farm.rest, "POST", f"/v1/tasks/{task_id}:pause", json={})).status_code == 200
    control = await worker.recv("control")
    assert control["action"] == "pause" and control["task_id"] == task_id
    await asyncio.to_thread(farm.wait_task, task_id, "TASK_STATE_PAUSED")
    assert (await asyncio.to_thread(farm.rest, "POST", f"/v1/tasks/{task_id}:resume", json={})).status_code == 200
    assert (await worker.recv("control"))["action"] == "resume"
    await asyncio.to_thread(farm.wait_task, task_id, "TASK_STATE_RUNNING")

    await worker.send("task_result", task_id=task_id, status="completed", checkpoint_path="/path/to/model.pt",
                      metrics={"final_loss": 0.0018, "final_accuracy": 0.988, "training_time": 3600})  # fmt: skip
    ack = await worker.recv("task_result_ack")
    assert ack == {"type": "task_result_ack", "task_id": task_id, "received": True, "timestamp": ack["timestamp"]}
    # Acknowledged only once stored: the task is completed when the ack arrives.
    task = farm.task(task_id)
    assert task["state"] == "TASK_STATE_COMPLETED"
    assert task["metrics"]["final_accuracy"] == pytest.approx(0.988)
    logs = farm.rest("GET", f"/v1/tasks/{task_id}/logs").json()
    assert any("checkpoint: /path/to/model.pt" in line["text"] for line in logs.get("lines", []))


@pytest.mark.parametrize("token", ["wrong-token", None, API_KEY], ids=["bad", "missing", "api-key"])
async def test_without_the_agent_token_the_door_closes_1008(farm: WsFarm, token: str | None) -> None:
    worker = await Worker.connect(farm.ws_url, _id("refused"), token=token)
    try:
        code, _ = await worker.closed()
        assert code == 1008
    finally:
        await worker.close()


async def test_missing_client_id_closes_1008(farm: WsFarm) -> None:
    worker = await Worker.connect(farm.ws_url, "not a valid id!")
    try:
        assert (await worker.closed())[0] == 1008
    finally:
        await worker.close()


async def test_non_json_closes_1003(farm: WsFarm) -> None:
    worker = await Worker.connect(farm.ws_url, _id("nonjson"))
    try:
        await worker.ws.send_str("this is not json")
        assert (await worker.closed())[0] == 1003
    finally:
        await worker.close()


async def test_unknown_type_is_an_error_then_1002(farm: WsFarm) -> None:
    worker = await Worker.connect(farm.ws_url, _id("unknown"))
    try:
        await worker.send("heartbeat", system_info={})
        await worker.recv("heartbeat_ack")
        await worker.send("make_coffee")
        error = await worker.recv("error")
        assert error["error"]["code"] == "UNKNOWN_MESSAGE_TYPE"
        assert (await worker.closed())[0] == 1002
    finally:
        await worker.close()


async def test_a_dropped_workers_task_is_requeued_and_its_late_result_refused(farm: WsFarm, workers: list[Worker]) -> None:
    first = await Worker.connect(farm.ws_url, _id("dropped"))
    workers.append(first)
    task_id, message = await _given(farm, first)
    assert message["data"]["attempt"] == 1
    await first.send("task_progress", task_id=task_id, progress=10.0, metrics={"loss": 1.0})
    second = await Worker.connect(farm.ws_url, _id("other"))
    workers.append(second)
    await second.send("task_request")

    await first.close()  # the socket drops; the controller requeues after the node's TTL
    again = await second.recv("task", timeout=30)
    assert again["data"]["id"] == task_id and again["data"]["attempt"] == 2
    await second.send("task_result", task_id=task_id, status="completed", metrics={"final_loss": 0.5})
    await second.recv("task_result_ack")
    task = farm.task(task_id)
    assert task["state"] == "TASK_STATE_COMPLETED" and task["attempt"] == 2

    # The first worker comes back and reports its old attempt: refused, and nothing changes.
    late = await Worker.connect(farm.ws_url, first.client_id)
    workers.append(late)
    await late.send("task_result", task_id=task_id, status="failed", error="late")
    error = await late.recv("error")
    assert error["error"]["code"] == "STALE_ATTEMPT"
    task = farm.task(task_id)
    assert task["state"] == "TASK_STATE_COMPLETED" and task["attempt"] == 2 and task["node"].endswith(second.client_id)


async def test_a_reconnect_within_the_ttl_keeps_the_task(farm: WsFarm, workers: list[Worker]) -> None:
    worker = await Worker.connect(farm.ws_url, _id("blip"))
    workers.append(worker)
    task_id, _ = await _given(farm, worker)
    await worker.close()
    back = await Worker.connect(farm.ws_url, worker.client_id)
    workers.append(back)
    await back.send("task_result", task_id=task_id, status="completed")
    await back.recv("task_result_ack")
    task = farm.task(task_id)
    assert task["state"] == "TASK_STATE_COMPLETED" and task["attempt"] == 1


async def test_a_silent_worker_loses_its_task_to_another(farm: WsFarm, workers: list[Worker]) -> None:
    silent = await Worker.connect(farm.ws_url, _id("silent"))
    workers.append(silent)
    task_id, _ = await _given(farm, silent)
    other = await Worker.connect(farm.ws_url, _id("awake"))
    workers.append(other)
    await other.send("task_request")
    silent.freeze()  # its pings go unanswered: the door closes it, the controller's TTL requeues the task
    again = await other.recv("task", timeout=30)
    assert again["data"]["id"] == task_id and again["data"]["attempt"] == 2
    await other.send("task_result", task_id=task_id, status="completed")
    await other.recv("task_result_ack")
    assert farm.task(task_id)["state"] == "TASK_STATE_COMPLETED"

"""AI Farm's client endpoints (seeds/001) through both doors: the registry's nodes with resources
from their heartbeats, the tasks they run, and performance from the tasks they finished."""

from __future__ import annotations

import pytest

from aifarm.v1 import task_pb2, task_service_pb2
from both_doors import Doors
from conftest import Farm

pytestmark = pytest.mark.slow


def test_the_agent_is_an_active_client_with_its_real_resources(both_doors: Doors, farm: Farm) -> None:
    for answer in both_doors.ask("GET", "/api/clients"):
        assert answer.status == 200, answer.describe()
        [client] = answer.body["clients"]
        assert set(client) == {"id", "status", "resources", "last_seen"}
        assert client["id"] == farm.agent.node_id and client["status"] == "active"
        cpu, ram = client["resources"]["cpu"], client["resources"]["ram"]
        assert cpu["cores"] >= 1 and 0 <= cpu["usage"] <= 100
        assert ram["total"] > 0 and 0 < ram["used"] <= ram["total"]  # MiB, from the heartbeat
        assert client["last_seen"].endswith("Z")


def test_a_clients_detail_has_its_tasks_and_performance_from_finished_work(both_doors: Doors, farm: Farm) -> None:
    def training(epochs: int) -> task_pb2.Task:
        return farm.client.create(task_pb2.Task(training=task_pb2.TrainingSpec(
            architecture="mlp", epochs=epochs, batch_size=1, synthetic=task_pb2.SyntheticDataset(samples=64))))  # fmt: skip

    done = training(1)
    farm.client.wait_state(done.name, task_pb2.TASK_STATE_COMPLETED, timeout=120)
    running = training(1000)
    farm.client.wait_state(running.name, task_pb2.TASK_STATE_RUNNING, timeout=60)
    try:
        for answer in both_doors.ask("GET", f"/api/clients/{farm.agent.node_id}"):
            assert answer.status == 200, answer.describe()
            body = answer.body
            assert set(body) == {"id", "status", "resources", "tasks", "performance", "last_seen"}
            assert {"id": running.name.removeprefix("tasks/"), "status": "running"}.items() <= body["tasks"][0].items()
            perf = body["performance"]
            assert perf["completed_tasks"] >= 1 and perf["success_rate"] == 1.0 and perf["average_time"] > 0
    finally:
        farm.client.tasks.CancelTask(task_service_pb2.CancelTaskRequest(name=running.name), metadata=farm.client.metadata)


def test_an_unknown_client_is_not_found(both_doors: Doors) -> None:
    for answer in both_doors.ask("GET", "/api/clients/no-such-client"):
        assert answer.status == 404, answer.describe()
        assert answer.body["error"]["code"] == "NOT_FOUND" and "no-such-client" in answer.body["error"]["message"]

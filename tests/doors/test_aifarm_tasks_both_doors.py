"""AI Farm's task endpoints (seeds/001) through the Python gateway and Envoy in front of one farm:
the document's requests and keys, 201/204, real training by the farm's agent, status changes
that reach the work (with the reason in the task's history), and the document's error object."""

from __future__ import annotations

from typing import Any, Iterator

import pytest

from aifarm.v1 import task_pb2
from both_doors import Doors
from conftest import Farm
from farm_processes import free_port, wait_for
from model_server import ModelServer, Route, create_model_code

pytestmark = pytest.mark.slow

#: The document's create request, as a client that trains on one client sends it.
CREATE = {
    "type": "training",
    "name": "mlp",
    "url": "http://model-server/models/model/1.0",
    "version": "1.0",
    "batch_size": 32,
    "learning_rate": 0.001,
    "epochs": 2,
    "distributed": False,
    "requirements": {"min_gpu_memory": 0, "min_cpu_cores": 1, "min_ram": 1},
    "n_clients": 1,
}
#: A task no client can take (it asks for a PiB of memory): it stays pending, the agent stays free.
PENDING = {**CREATE, "requirements": {"min_ram": 1 << 30}}
SUMMARY_KEYS = {"id", "type", "status", "progress", "created_at", "updated_at"}
MODEL_PATH = "/models/model/1.0"


@pytest.fixture(scope="module")
def model_server() -> Iterator[ModelServer]:
    """The document's model server: its url answers create_model() code for `Version: 1.0`."""
    server = ModelServer({MODEL_PATH: Route.code(create_model_code(features=16, classes=4), version="1.0")})
    yield server
    server.stop()


@pytest.fixture
def create(model_server: ModelServer) -> dict[str, Any]:
    """CREATE with its url at the model server (the agent really fetches it)."""
    return {**CREATE, "url": model_server.url + MODEL_PATH}


def _iso(value: str) -> None:
    assert value.endswith("Z") and value[4] == "-" and "T" in value, value


def _created(both_doors: Doors, body: dict[str, Any]) -> list[str]:
    ids = []
    for answer in both_doors.ask("POST", "/api/tasks", json=body):
        assert answer.status == 201, answer.describe()
        assert set(answer.body) == {"id", "status", "created_at"}
        assert answer.body["status"] == "pending"
        _iso(answer.body["created_at"])
        ids.append(answer.body["id"])
    return ids


def _detail(both_doors: Doors, task_id: str) -> dict[str, Any]:
    gateway, envoy = both_doors.ask("GET", f"/api/tasks/{task_id}")
    assert gateway.status == envoy.status == 200, (gateway.describe(), envoy.describe())
    return gateway.body


def test_a_created_task_is_a_core_task_that_the_agent_trains(
    both_doors: Doors, farm: Farm, create: dict[str, Any], model_server: ModelServer
) -> None:
    for task_id in _created(both_doors, create):
        core = farm.client.wait_state(f"tasks/{task_id}", task_pb2.TASK_STATE_COMPLETED, timeout=120)
        assert core.training.architecture == "mlp" and core.training.epochs == 2
        assert (core.training.model_url, core.training.model_version) == (create["url"], "1.0")
        assert "1.0" in model_server.versions  # fetched with the document's Version header
        body = _detail(both_doors, task_id)
        assert set(body) == SUMMARY_KEYS | {"metrics", "config", "requirements"}
        assert (body["type"], body["status"], body["progress"]) == ("training", "completed", 100.0)
        assert body["metrics"]["loss"] > 0  # the agent's real figures
        assert body["config"]["url"] == create["url"] and body["config"]["version"] == "1.0"
        assert body["config"]["batch_size"] == 32 and body["config"]["epochs"] == 2
        assert body["requirements"] == CREATE["requirements"]
        _iso(body["updated_at"])


def test_a_core_task_shows_in_the_list_and_pages_split_it(both_doors: Doors, farm: Farm) -> None:
    core = farm.client.create(task_pb2.Task(training=task_pb2.TrainingSpec(
        architecture="mlp", epochs=1, synthetic=task_pb2.SyntheticDataset(samples=64))))  # fmt: skip
    core_id = core.name.removeprefix("tasks/")
    for _ in range(11):
        _created(both_doors, PENDING)
    for answer in both_doors.ask("GET", "/api/tasks?limit=100"):
        assert answer.status == 200, answer.describe()
        assert set(answer.body) == {"tasks", "total", "page"}
        assert all(set(t) <= SUMMARY_KEYS and {"id", "type", "status", "created_at"} <= set(t)
                   for t in answer.body["tasks"])  # fmt: skip
        assert core_id in {t["id"] for t in answer.body["tasks"]}
    total = both_doors.ask("GET", "/api/tasks")[0].body["total"]
    assert total >= 23
    for answer in both_doors.ask("GET", "/api/tasks?page=2&limit=10"):
        assert answer.status == 200, answer.describe()
        assert answer.body["page"] == 2 and answer.body["total"] >= total and len(answer.body["tasks"]) == 10
    pages = [both_doors.ask("GET", f"/api/tasks?page={p}&limit=10")[0].body["tasks"] for p in (1, 2)]
    assert not {t["id"] for t in pages[0]} & {t["id"] for t in pages[1]}, "pages overlap"


def _long_training(both_doors: Doors, farm: Farm, create: dict[str, Any]) -> str:
    reply = both_doors.gateway.call("POST", "/api/tasks", json={**create, "epochs": 1000, "batch_size": 1})
    assert reply.status_code == 201, reply.text
    task_id = reply.json()["id"]
    farm.client.wait_state(f"tasks/{task_id}", task_pb2.TASK_STATE_RUNNING, timeout=60)
    return task_id


def test_a_running_tasks_progress_is_the_agents(both_doors: Doors, farm: Farm, create: dict[str, Any]) -> None:
    task_id = _long_training(both_doors, farm, create)
    try:
        # The agent reports progress as it trains, and metrics as epochs end: both doors show the
        # core task's figures (progress in percent).
        def reported() -> bool:
            core = farm.client.get(f"tasks/{task_id}")
            return core.progress > 0 and "loss" in core.metrics

        wait_for(reported, timeout=60, what="the first epoch's report")
        for answer in both_doors.ask("GET", f"/api/tasks/{task_id}"):
            assert answer.status == 200, answer.describe()
            assert answer.body["status"] == "running" and 0 < answer.body["progress"] < 100, answer.describe()
            assert answer.body["metrics"]["loss"] > 0, answer.describe()
        listed = both_doors.ask("GET", "/api/tasks?limit=1000")[0].body["tasks"]
        assert next(t for t in listed if t["id"] == task_id)["progress"] > 0
    finally:
        both_doors.gateway.call("DELETE", f"/api/tasks/{task_id}")


def test_status_changes_reach_the_work_and_keep_the_reason(
    both_doors: Doors, farm: Farm, create: dict[str, Any]
) -> None:
    task_id = _long_training(both_doors, farm, create)
    path = f"/api/tasks/{task_id}/status"
    paused = both_doors.gateway.call("PUT", path, json={"status": "paused", "reason": "Resource constraints"})
    assert paused.status_code == 200, paused.text
    assert set(paused.json()) == {"id", "status", "updated_at"} and paused.json()["status"] == "paused"
    farm.client.wait_state(f"tasks/{task_id}", task_pb2.TASK_STATE_PAUSED, timeout=30)
    for answer in both_doors.ask("PUT", path, json={"status": "paused"}):  # paused already: the document's 409
        assert answer.status == 409, answer.describe()
        assert answer.body["error"]["code"] == "CONFLICT" and "paused" in answer.body["error"]["message"]
    resumed = both_doors.envoy.call("PUT", path, json={"status": "running", "reason": "capacity back"})
    assert resumed.status_code == 200, resumed.text
    farm.client.wait_state(f"tasks/{task_id}", task_pb2.TASK_STATE_RUNNING, timeout=30)
    assert _detail(both_doors, task_id)["status"] == "running"
    cancelled = both_doors.gateway.call("PUT", path, json={"status": "cancelled", "reason": "done with it"})
    assert cancelled.status_code == 200, cancelled.text
    core = farm.client.wait_state(f"tasks/{task_id}", task_pb2.TASK_STATE_CANCELLED, timeout=30)
    assert "done with it" in core.state_reason
    history = [line.text for line in farm.client.logs(f"tasks/{task_id}")]
    for said in ("pause asked by user: Resource constraints", "resume asked by user: capacity back",
                 "cancelled by user: done with it"):  # fmt: skip
        assert said in history, history
    for answer in both_doors.ask("PUT", path, json={"status": "stopped"}):  # ended: nothing to stop
        assert answer.status == 409, answer.describe()
        assert answer.body["error"]["code"] == "CONFLICT"


def test_a_pending_task_cannot_be_paused_but_can_be_stopped(both_doors: Doors) -> None:
    task_id = _created(both_doors, PENDING)[0]
    for answer in both_doors.ask("PUT", f"/api/tasks/{task_id}/status", json={"status": "paused"}):
        assert answer.status == 409, answer.describe()
        assert "pending" in answer.body["error"]["message"]
    stopped = both_doors.envoy.call("PUT", f"/api/tasks/{task_id}/status", json={"status": "stopped"})
    assert stopped.status_code == 200 and stopped.json()["status"] == "stopped", stopped.text
    assert _detail(both_doors, task_id)["status"] == "cancelled"


def test_delete_is_204_and_the_task_is_gone(both_doors: Doors, farm: Farm) -> None:
    ids = _created(both_doors, PENDING)
    for door, task_id in zip(both_doors, ids):
        reply = door.call("DELETE", f"/api/tasks/{task_id}")
        assert reply.status_code == 204 and reply.content == b"", (door.name, reply.status_code, reply.text)
    for task_id in ids:
        for answer in both_doors.ask("GET", f"/api/tasks/{task_id}"):
            assert answer.status == 404, answer.describe()
            assert answer.body["error"]["code"] == "NOT_FOUND"
        for answer in both_doors.ask("GET", f"/v1/tasks/{task_id}"):
            assert answer.status == 404, answer.describe()


@pytest.mark.parametrize(("body", "said"), [
    ({**CREATE, "batch_size": "many"}, "batch_size"),
    ({**CREATE, "epochs": 0.5}, "epochs"),
    ({**CREATE, "type": "inference"}, "inference"),
    ({**CREATE, "n_clients": 3}, "distributed"),  # several clients, but not distributed
    ({**CREATE, "distributed": True, "n_clients": -1}, "n_clients"),
    ({**CREATE, "distributed": True, "n_clients": 257}, "at most 256"),
    ({**CREATE, "config": {"colour": "blue"}}, "colour"),
    ({**CREATE, "config": {"seed": "x"}}, "seed"),
    ({**CREATE, "requirements": {"min_ram": -1}}, "min_ram"),
    ({**CREATE, "learning_rate": 7.0}, "learning_rate"),
    ({**CREATE, "url": "ftp://models/m"}, "http://, https:// or file://"),
    ({**CREATE, "url": "two words"}, "names no model"),
])  # fmt: skip
def test_a_bad_create_is_invalid_request_and_makes_nothing(both_doors: Doors, body: dict, said: str) -> None:
    before = both_doors.ask("GET", "/api/tasks?limit=1")[0].body["total"]
    for answer in both_doors.ask("POST", "/api/tasks", json=body):
        assert answer.status == 400, answer.describe()
        assert answer.body["error"]["code"] == "INVALID_REQUEST", answer.describe()
        assert said in answer.body["error"]["message"], answer.describe()
    assert both_doors.ask("GET", "/api/tasks?limit=1")[0].body["total"] == before


def test_malformed_json_and_unknown_status_and_ids(both_doors: Doors) -> None:
    for door in both_doors:
        reply = door.call("POST", "/api/tasks", data=b"{not json", headers={"Content-Type": "application/json"})
        assert reply.status_code == 400 and reply.json()["error"]["code"] == "INVALID_REQUEST", (door.name, reply.text)
    task_id = _created(both_doors, PENDING)[0]
    for answer in both_doors.ask("PUT", f"/api/tasks/{task_id}/status", json={"status": "exploded"}):
        assert answer.status == 400 and "exploded" in answer.body["error"]["message"], answer.describe()
    for method, path in (("GET", "/api/tasks/nope"), ("DELETE", "/api/tasks/nope"),
                         ("PUT", "/api/tasks/nope/status")):  # fmt: skip
        for answer in both_doors.ask(method, path, json={"status": "cancelled"}):
            assert answer.status == 404 and answer.body["error"]["code"] == "NOT_FOUND", answer.describe()
    for answer in both_doors.ask("GET", "/api/tasks?page=-1"):
        assert answer.status == 400, answer.describe()


def test_without_a_key_it_is_unauthorized(both_doors: Doors) -> None:
    for door in both_doors:
        reply = door.call("GET", "/api/tasks", key=None)
        assert reply.status_code == 401 and reply.json()["error"]["code"] == "UNAUTHORIZED", reply.text
        reply = door.call("POST", "/api/tasks", key=None, json=CREATE)
        assert reply.status_code == 401, reply.text


def test_a_distributed_task_is_one_core_gang_that_waits_for_its_clients(both_doors: Doors, farm: Farm) -> None:
    """n_clients: 3 is a core task of world size 3 (with retries, as one rank's loss fails the gang);
    this farm has one agent, so it waits, pending, for three clients that fit."""
    body = {**CREATE, "distributed": True, "n_clients": 3}
    for task_id in _created(both_doors, body):
        core = farm.client.get(f"tasks/{task_id}")
        assert (core.world_size, core.max_retries) == (3, 2)
        config = _detail(both_doors, task_id)["config"]
        assert (config["distributed"], config["n_clients"]) == (True, 3)
        assert farm.client.get(f"tasks/{task_id}").state == task_pb2.TASK_STATE_PENDING
        for door in both_doors:
            reply = door.call("DELETE", f"/api/tasks/{task_id}")
            assert reply.status_code == 204, (door.name, reply.text)
            break


def test_a_url_naming_an_aifarm_model_trains_further_from_it(both_doors: Doors, farm: Farm) -> None:
    """`url` may name a model of aifarm's registry (/v1/models/NAME or its name): the task continues
    that checkpoint; a model that is not there is a 404 and makes nothing."""
    base = farm.client.create(task_pb2.Task(output_model="aifarm-base", training=task_pb2.TrainingSpec(
        architecture="mlp", epochs=1, synthetic=task_pb2.SyntheticDataset(samples=64))))  # fmt: skip
    farm.client.wait_state(base.name, task_pb2.TASK_STATE_COMPLETED, timeout=120)
    for url in ("/v1/models/aifarm-base", "models/aifarm-base"):
        for task_id in _created(both_doors, {**CREATE, "url": url, "version": "1"}):
            core = farm.client.wait_state(f"tasks/{task_id}", task_pb2.TASK_STATE_COMPLETED, timeout=120)
            assert core.training.architecture == "models/aifarm-base"
            assert _detail(both_doors, task_id)["config"]["url"] == url
    before = both_doors.ask("GET", "/api/tasks?limit=1")[0].body["total"]
    for answer in both_doors.ask("POST", "/api/tasks", json={**CREATE, "url": "/v1/models/nowhere"}):
        assert answer.status == 404 and answer.body["error"]["code"] == "NOT_FOUND", answer.describe()
        assert "nowhere" in answer.body["error"]["message"], answer.describe()
    assert both_doors.ask("GET", "/api/tasks?limit=1")[0].body["total"] == before


def test_an_unreachable_url_fails_the_task_plainly(both_doors: Doors, farm: Farm) -> None:
    url = f"http://127.0.0.1:{free_port()}/models/model/1.0"  # nothing listens there
    for task_id in _created(both_doors, {**CREATE, "url": url}):
        core = farm.client.wait_state(f"tasks/{task_id}", task_pb2.TASK_STATE_FAILED, timeout=60)
        assert "cannot fetch model_url" in core.result.error and url in core.result.error, core.result.error
        assert any(url in line.text and "error" in line.text for line in farm.client.logs(core.name))
        assert _detail(both_doors, task_id)["status"] == "failed"

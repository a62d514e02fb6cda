"""gswarm's host API (seeds/002) on its own listener (gswarm_host), through the Python gateway and
Envoy in front of one farm: the model registry (the document's requests and bare answers, actions
as {success, message, data}, errors as its envelope plus `detail`, the same models as the core
registry's /v1/models on the main listener), and the nodes, health and metrics of the farm."""

from __future__ import annotations

import shutil
from typing import Any, Iterator

import psutil
import pytest

from aifarm.v1 import node_pb2, task_pb2
from both_doors import Answer, Doors, assert_envelope_error
from conftest import Door, Farm, start_door

pytestmark = pytest.mark.slow

#: The document's register request.
LLAMA = {
    "model_name": "llama-7b",
    "model_type": "llm",
    "model_size": 13968179200,
    "source_url": "https://huggingface.co/meta-llama/Llama-2-7b",
    "metadata": {"framework": "pytorch", "precision": "fp16"},
}


@pytest.fixture(scope="module")
def doors(farm: Farm, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Doors, Doors]]:
    """(gswarm's host API, the main listener) through both doors."""
    procs = {kind: start_door(kind, tmp_path_factory.mktemp(kind), farm.controller.address) for kind in ("gateway", "envoy")}
    yield (Doors(*(Door(kind, proc.gswarm_url) for kind, proc in procs.items())),
           Doors(*(Door(kind, proc.url) for kind, proc in procs.items())))  # fmt: skip
    for proc in procs.values():
        proc.stop()


@pytest.fixture(scope="module")
def gswarm(doors: tuple[Doors, Doors]) -> Doors:
    return doors[0]


def _ok(answers: tuple[Answer, Answer], status: int = 200) -> dict[str, Any]:
    for answer in answers:
        assert answer.status == status, answer.describe()
    assert answers[0].body == answers[1].body, (answers[0].describe(), answers[1].describe())
    return answers[0].body


def _error(answers: tuple[Answer, Answer], status: int, code: str) -> None:
    assert_envelope_error(answers, status, code)


def _register(gswarm: Doors, body: dict[str, Any]) -> None:
    """Once, through the gateway (a second register is a 409)."""
    reply = gswarm.gateway.call("POST", "/api/v1/models", json=body)
    assert reply.status_code == 201, reply.text
    assert reply.json() == {"success": True, "message": f"Model {body['model_name']} registered",
                            "data": {"model_name": body["model_name"]}}  # fmt: skip


def test_a_registered_model_is_listed_and_shown_as_the_document_does(gswarm: Doors, doors: tuple[Doors, Doors]) -> None:
    _register(gswarm, LLAMA)
    listed = _ok(gswarm.ask("GET", "/api/v1/models?type=llm"))
    assert listed["total"] == 1 and listed["page"] == 1 and listed["per_page"] == 20
    assert listed["models"] == [{"model_name": "llama-7b", "model_type": "llm", "model_size": 13968179200,
                                 "locations": [], "services": {}, "status": "registered"}]  # fmt: skip
    detail = _ok(gswarm.ask("GET", "/api/v1/models/llama-7b"))
    assert detail["model_size"] == 13968179200 and detail["status"] == "registered"
    assert detail["metadata"]["framework"] == "pytorch" and detail["metadata"]["precision"] == "fp16"
    assert detail["metadata"]["source_url"] == LLAMA["source_url"] and detail["metadata"]["created_at"].endswith("Z")
    # The same model in the core registry, on the main listener.
    core = _ok(doors[1].ask("GET", "/v1/models/llama-7b"))
    assert core["model_type"] == "llm" and int(core["size_bytes"]) == 13968179200 and not core["sha256"], core
    for answer in doors[1].ask("GET", "/v1/models/llama-7b:download"):
        assert answer.status in (400, 404, 409), answer.describe()  # no bytes in the registry to download


def test_locations_are_added_filtered_and_removed(gswarm: Doors) -> None:
    _register(gswarm, {**LLAMA, "model_name": "placed"})
    for device in ("node1:disk", "node2:gpu0"):
        added = gswarm.gateway.call("POST", "/api/v1/models/placed/locations", json={"device": device, "status": "ready"})
        assert added.status_code == 201 and added.json()["success"] is True, added.text
    got = _ok(gswarm.ask("GET", "/api/v1/models/placed/locations"))
    assert got == {"model_name": "placed", "locations": [{"device": "node1:disk", "status": "ready"},
                                                          {"device": "node2:gpu0", "status": "ready"}]}  # fmt: skip
    for location in ("node2:gpu0", "node2", "gpu0"):
        names = [m["model_name"] for m in _ok(gswarm.ask("GET", f"/api/v1/models?location={location}"))["models"]]
        assert names == ["placed"], location
    assert _ok(gswarm.ask("GET", "/api/v1/models/placed"))["status"] == "ready"
    assert "placed" in [m["model_name"] for m in _ok(gswarm.ask("GET", "/api/v1/models?status=ready"))["models"]]
    removed = gswarm.envoy.call("DELETE", "/api/v1/models/placed/locations/node2:gpu0")
    assert removed.status_code == 200 and removed.json()["success"] is True, removed.text
    assert _ok(gswarm.ask("GET", "/api/v1/models/placed"))["locations"] == ["node1:disk"]
    _error(gswarm.ask("DELETE", "/api/v1/models/placed/locations/node2:gpu0"), 404, "NOT_FOUND")
    _error(gswarm.ask("POST", "/api/v1/models/placed/locations", json={"device": "node1:tape"}), 400, "INVALID_REQUEST")


def test_pages_split_the_list(gswarm: Doors) -> None:
    for i in range(5):
        _register(gswarm, {"model_name": f"paged-{i}", "model_type": "paged"})
    first = _ok(gswarm.ask("GET", "/api/v1/models?type=paged&page=1&per_page=2"))
    last = _ok(gswarm.ask("GET", "/api/v1/models?type=paged&page=3&per_page=2"))
    assert (first["total"], first["per_page"], len(first["models"])) == (5, 2, 2)
    assert [m["model_name"] for m in first["models"]] == ["paged-0", "paged-1"]
    assert [m["model_name"] for m in last["models"]] == ["paged-4"]
    _error(gswarm.ask("GET", "/api/v1/models?per_page=5000"), 400, "INVALID_REQUEST")


def test_delete_answers_the_action_and_the_model_is_gone(gswarm: Doors, doors: tuple[Doors, Doors]) -> None:
    _register(gswarm, {**LLAMA, "model_name": "doomed"})
    reply = gswarm.gateway.call("DELETE", "/api/v1/models/doomed?force=true")
    assert reply.status_code == 200, reply.text
    assert reply.json() == {"success": True, "message": "Model doomed deleted", "data": {"model_name": "doomed"}}
    _error(gswarm.ask("GET", "/api/v1/models/doomed"), 404, "MODEL_NOT_FOUND")
    _error(gswarm.ask("DELETE", "/api/v1/models/doomed"), 404, "MODEL_NOT_FOUND")
    for answer in doors[1].ask("GET", "/v1/models/doomed"):
        assert answer.status == 404, answer.describe()


def test_a_trained_model_of_the_core_registry_is_listed_ready_with_its_sha256(gswarm: Doors, farm: Farm) -> None:
    task = farm.client.create(task_pb2.Task(output_model="trained-mlp", training=task_pb2.TrainingSpec(
        architecture="mlp", epochs=1, synthetic=task_pb2.SyntheticDataset(samples=64))))  # fmt: skip
    farm.client.wait_state(task.name, task_pb2.TASK_STATE_COMPLETED, timeout=120)
    from farm_processes import wait_for

    wait_for(lambda: gswarm.gateway.call("GET", "/api/v1/models/trained-mlp").status_code == 200,
             what="the output model to be saved")  # fmt: skip
    detail = _ok(gswarm.ask("GET", "/api/v1/models/trained-mlp"))
    assert detail["status"] == "ready" and detail["model_size"] > 0 and len(detail["metadata"]["sha256"]) == 64


@pytest.mark.parametrize(("body", "said"), [
    ({"model_type": "llm"}, "model name"),  # no name
    ({"model_name": "../etc/passwd"}, "model name"),
    ({"model_name": "x", "model_size": -1}, "model_size"),
    ({"model_name": "x", "model_size": 1.5}, "model_size"),
    ({"model_name": "x", "source_url": "ftp://host/m"}, "source_url"),
    ({"model_name": "x", "model_size": "big"}, ""),
])  # fmt: skip
def test_a_bad_register_is_invalid_request_and_makes_nothing(gswarm: Doors, body: dict, said: str) -> None:
    before = _ok(gswarm.ask("GET", "/api/v1/models"))["total"]
    for answer in gswarm.ask("POST", "/api/v1/models", json=body):
        assert answer.status == 400, answer.describe()
        assert answer.body["error"]["code"] == "INVALID_REQUEST" and answer.body["success"] is False, answer.describe()
        assert said in answer.body["error"]["message"], answer.describe()
    assert _ok(gswarm.ask("GET", "/api/v1/models"))["total"] == before


def test_a_taken_name_is_a_conflict_and_unknown_paths_keep_the_envelope(gswarm: Doors) -> None:
    _register(gswarm, {**LLAMA, "model_name": "taken"})
    _error(gswarm.ask("POST", "/api/v1/models", json={**LLAMA, "model_name": "taken"}), 409, "CONFLICT")
    _error(gswarm.ask("GET", "/api/v1/models/nope/locations"), 404, "MODEL_NOT_FOUND")
    for answer in gswarm.ask("GET", "/api/v1/nothing-here"):
        assert answer.status == 404 and answer.body["success"] is False, answer.describe()


def _each(answers: tuple[Answer, Answer]) -> Iterator[dict[str, Any]]:
    """Each door's body, for answers with live figures (heartbeats move them between the two calls)."""
    for answer in answers:
        assert answer.status == 200, answer.describe()
        yield answer.body


def test_nodes_show_the_farms_agent_with_its_gpus_and_storage(gswarm: Doors, farm: Farm) -> None:
    for body in _each(gswarm.ask("GET", "/api/v1/nodes")):
        _check_node(next(n for n in body["nodes"] if n["node_id"] == farm.agent.node_id), farm)


def _check_node(node: dict[str, Any], farm: Farm) -> None:
    assert node["status"] == "online" and node["hostname"] and node["ip_address"] == "127.0.0.1", node
    assert node["last_heartbeat"].endswith("Z")
    assert node["capabilities"]["gpus"] == [f"gpu{i}" for i in range(len(node["capabilities"]["gpus"]))]
    storage = node["capabilities"]["storage"]
    assert storage["disk"] == shutil.disk_usage(farm.agent.data_dir).total, storage
    assert storage["dram"] == psutil.virtual_memory().total >> 20 << 20, storage


def test_health_checks_the_database_and_the_agents(gswarm: Doors) -> None:
    answers = gswarm.ask("GET", "/api/v1/health")
    for answer in answers:
        assert answer.status == 200 and answer.body.pop("timestamp").endswith("Z"), answer.describe()
    health = _ok(answers)
    assert (health["status"], health["database"]) == ("healthy", True)
    assert health["nodes_online"] >= 1 and health["nodes_total"] >= health["nodes_online"]


def test_metrics_count_models_nodes_and_tasks(gswarm: Doors, farm: Farm) -> None:
    task = farm.client.create(task_pb2.Task(script=task_pb2.ScriptSpec(source="print('m')", entrypoint="main.py")))
    farm.client.wait_state(task.name, task_pb2.TASK_STATE_COMPLETED, timeout=60)
    listed = _ok(gswarm.ask("GET", "/api/v1/models?per_page=1000"))
    for metrics in _each(gswarm.ask("GET", "/api/v1/metrics")):
        assert metrics["models"] == listed["total"]
        assert metrics["models_ready"] == sum(1 for m in listed["models"] if m["status"] == "ready")
        assert metrics["nodes_online"] >= 1 and metrics["tasks"]["completed"] >= 1
        assert 0 <= metrics["cpu_usage"] <= 100 and 0 < metrics["memory_used_mb"] <= metrics["memory_total_mb"]


def _script(**fields: Any) -> task_pb2.Task:
    return task_pb2.Task(script=task_pb2.ScriptSpec(source="print('q')", entrypoint="main.py"), **fields)


#: No node has a PiB of memory: such a task stays pending (and keeps the agent free).
UNPLACEABLE = {"resources": node_pb2.Resources(memory_mb=1 << 30)}


def test_the_queue_is_the_farms_with_its_counts_and_settings(gswarm: Doors, farm: Farm) -> None:
    farm.client.create(_script(**UNPLACEABLE))
    done = farm.client.create(_script())
    farm.client.wait_state(done.name, task_pb2.TASK_STATE_COMPLETED, timeout=60)
    cores = farm.client.online_nodes()[0].capabilities.cpu_cores
    for queue in _each(gswarm.ask("GET", "/api/v1/queue")):
        assert queue["pending"] >= 1 and queue["completed"] >= 1 and queue["running"] >= 0, queue
        assert queue["config"] == {"max_concurrent_tasks": cores, "priority_levels": ["critical", "high", "normal", "low"],
                                   "resource_tracking": True}  # fmt: skip


def test_queue_tasks_show_priority_dependencies_and_cancel(gswarm: Doors, farm: Farm) -> None:
    first = farm.client.create(_script(priority=task_pb2.TASK_PRIORITY_HIGH, **UNPLACEABLE))
    first_id = first.name.removeprefix("tasks/")
    second = farm.client.create(_script(depends_on=[first.name], output_model="queued-out"))
    second_id = second.name.removeprefix("tasks/")
    pending = _ok(gswarm.ask("GET", "/api/v1/queue/tasks?status=pending&limit=1000"))["tasks"]
    shown = {t["task_id"]: t for t in pending}
    assert shown[first_id]["priority"] == "high" and shown[first_id]["status"] == "pending"
    assert shown[second_id]["dependencies"] == [first_id] and shown[second_id]["resources"]["models"] == ["queued-out"]
    assert shown[first_id]["task_type"] == "script" and shown[first_id]["created_at"] > 0
    assert len(_ok(gswarm.ask("GET", "/api/v1/queue/tasks?limit=1"))["tasks"]) == 1
    assert _ok(gswarm.ask("GET", f"/api/v1/queue/tasks/{first_id}")) == shown[first_id]

    reply = gswarm.gateway.call("POST", f"/api/v1/queue/tasks/{first_id}/cancel")
    assert reply.status_code == 200, reply.text
    assert reply.json() == {"success": True, "message": f"Task {first_id} cancelled",
                            "data": {"task_id": first_id, "status": "cancelled"}}  # fmt: skip
    assert farm.client.get(first.name).state == task_pb2.TASK_STATE_CANCELLED
    _error(gswarm.ask("POST", f"/api/v1/queue/tasks/{first_id}/cancel"), 409, "CONFLICT")
    # Its dependant can never run now: it fails as the core queue fails it.
    failed = farm.client.wait_state(second.name, task_pb2.TASK_STATE_FAILED, timeout=30)
    assert "depend" in failed.state_reason.lower() or "depend" in failed.result.error.lower(), failed

    history = _ok(gswarm.ask("GET", "/api/v1/queue/history?status=cancelled&limit=1000"))["tasks"]
    assert first_id in {t["task_id"] for t in history} and all(t["status"] == "cancelled" for t in history)
    assert all(t["completed_at"] > 0 for t in history)
    assert _ok(gswarm.ask("GET", "/api/v1/queue/history?since=2999-01-01T00:00:00Z"))["tasks"] == []
    assert first_id in {t["task_id"] for t in _ok(gswarm.ask("GET", "/api/v1/queue/history?since=1704067200"))["tasks"]}


@pytest.mark.parametrize("path", [
    "/api/v1/queue/tasks?status=exploded", "/api/v1/queue/tasks?limit=5000", "/api/v1/queue/history?status=pending",
    "/api/v1/queue/history?since=yesterday",
])  # fmt: skip
def test_bad_queue_queries_are_invalid_requests(gswarm: Doors, path: str) -> None:
    _error(gswarm.ask("GET", path), 400, "INVALID_REQUEST")


def test_an_unknown_queue_task_is_not_found(gswarm: Doors) -> None:
    _error(gswarm.ask("GET", "/api/v1/queue/tasks/nope"), 404, "NOT_FOUND")
    _error(gswarm.ask("POST", "/api/v1/queue/tasks/nope/cancel"), 404, "NOT_FOUND")

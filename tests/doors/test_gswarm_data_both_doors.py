"""gswarm's data pool (seeds/002, Data Pool APIs) on the host listener, through the Python gateway
and through Envoy, on two real agents: a chunk created from base64 lands in one node's data store
(its shared memory), is listed and shown with its sha256 and access count, moves to that node's
disk, is transferred to the other node (node to node, the source deleted after), read back there
byte-identical, and deleted from the node; a chunk from a file URL; the documented errors, and a
delete refused while a transfer names the chunk unless forced."""

from __future__ import annotations

import base64
import hashlib
import os
from pathlib import Path
from typing import Any, Iterator

import pytest

from both_doors import Answer, Doors, assert_envelope_error
from conftest import Door, start_door
from farm_processes import AgentProcess, Client, ControllerProcess, free_port, wait_for

pytestmark = pytest.mark.slow


class Farm:
    def __init__(self, root: Path) -> None:
        self.controller = ControllerProcess(root / "controller", free_port(), extra=["--rate-limit-per-minute", "0"]).start()
        self.agents = [AgentProcess(self.controller.address, root / f"agent{i}").start() for i in (1, 2)]
        self.client = Client(self.controller.address)
        wait_for(lambda: len(self.client.online_nodes()) == 2, what="both agents to join")
        self.doors = [start_door(kind, root / kind, self.controller.address) for kind in ("gateway", "envoy")]
        self.gswarm = Doors(*(Door(kind, proc.gswarm_url) for kind, proc in zip(("gateway", "envoy"), self.doors)))

    def stop(self) -> None:
        for door in self.doors:
            door.stop()
        self.client.close()
        for agent in self.agents:
            agent.stop()
        self.controller.kill()


@pytest.fixture(scope="module")
def farm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Farm]:
    root = tmp_path_factory.mktemp("gswarm-data")
    for kind in ("gateway", "envoy"):
        (root / kind).mkdir()
    f = Farm(root)
    yield f
    f.stop()


def _ok(answer: Answer, status: int = 200) -> dict[str, Any]:
    assert answer.status == status, answer.describe()
    return answer.body


def _ended(farm: Farm, task_id: str, timeout: float = 60) -> dict[str, Any]:
    def ended() -> dict[str, Any] | None:
        task = farm.gswarm.gateway.call("GET", f"/api/v1/queue/tasks/{task_id}").json()
        return task if task["status"] in ("completed", "failed", "cancelled") else None

    return wait_for(ended, timeout=timeout, what=f"task {task_id} to end")


def _locations(chunk: dict[str, Any]) -> dict[str, str]:
    return {loc["device"]: loc["status"] for loc in chunk["locations"]}


def _stored(agent: AgentProcess, device: str, chunk_id: str) -> Path:
    if device == "dram":
        return Path("/dev/shm") / f"aifarm-{agent.node_id}-data" / chunk_id
    return agent.data_dir / "local-data" / device / chunk_id


def test_a_chunk_is_created_moved_transferred_read_back_and_deleted(farm: Farm) -> None:
    payload = os.urandom(300_000)
    sha = hashlib.sha256(payload).hexdigest()
    one, two = farm.agents
    created = _ok(Answer.of("gateway", farm.gswarm.gateway.call("POST", "/api/v1/data", json={
        "data": base64.b64encode(payload).decode(), "type": "input", "format": "bytes",
        "device": f"{one.node_id}:dram", "metadata": {"shape": [300000], "created_by": "test"}})), 201)  # fmt: skip
    chunk_id = created["chunk_id"]
    assert created["success"] is True and created["size"] == len(payload) and chunk_id.startswith("chunk-"), created
    assert _locations(created["chunk"]) == {f"{one.node_id}:dram": "available"}
    assert _stored(one, "dram", chunk_id).read_bytes() == payload  # in the node's shared memory, not in the models'

    # Shown the same through both doors; each get counts as an access.
    shown = [_ok(a) for a in farm.gswarm.ask("GET", f"/api/v1/data/{chunk_id}")]
    for got in shown:
        assert got["chunk_id"] == chunk_id and got["chunk_type"] == "input" and got["format"] == "bytes"
        assert got["size"] == len(payload) and got["references"] == []
        meta = got["metadata"]
        assert meta["checksum"] == f"sha256:{sha}" and meta["created_by"] == "test" and meta["shape"] == [300000]
        assert meta["created_at"].endswith("Z") and meta["last_accessed"].endswith("Z")
    assert [got["metadata"]["access_count"] for got in shown] == [1, 2]

    listed = [_ok(a) for a in farm.gswarm.ask("GET", "/api/v1/data?device=dram&type=input")]
    assert [c["chunk_id"] for c in listed[0]["chunks"]] == [chunk_id] == [c["chunk_id"] for c in listed[1]["chunks"]]
    assert _ok(farm.gswarm.ask("GET", "/api/v1/data?type=output")[1]) == {"chunks": []}

    # Move to the node's disk (through Envoy).
    moved = _ok(Answer.of("envoy", farm.gswarm.envoy.call("POST", f"/api/v1/data/{chunk_id}/move",
                                                          json={"target_device": "disk", "priority": "high"})))  # fmt: skip
    assert moved["success"] is True and moved["target"] == f"{one.node_id}:disk", moved
    assert _ended(farm, moved["task_id"])["status"] == "completed"
    chunk = _ok(farm.gswarm.ask("GET", f"/api/v1/data/{chunk_id}")[0])
    assert _locations(chunk) == {f"{one.node_id}:disk": "available"}
    assert _stored(one, "disk", chunk_id).read_bytes() == payload and not _stored(one, "dram", chunk_id).exists()

    # Transfer to the other node, node to node; the source's copy goes once the bytes arrived.
    sent = _ok(Answer.of("gateway", farm.gswarm.gateway.call("POST", f"/api/v1/data/{chunk_id}/transfer", json={
        "target_node": two.node_id, "target_device": "disk", "delete_source": True})))  # fmt: skip
    assert sent["target"] == f"{two.node_id}:disk"
    assert _ended(farm, sent["task_id"])["status"] == "completed"
    wait_for(lambda: _locations(_ok(farm.gswarm.ask("GET", f"/api/v1/data/{chunk_id}")[0])) ==
             {f"{two.node_id}:disk": "available"}, what="the source's copy to be deleted")  # fmt: skip
    arrived = _stored(two, "disk", chunk_id)
    assert arrived.read_bytes() == payload and hashlib.sha256(arrived.read_bytes()).hexdigest() == sha
    assert not _stored(one, "disk", chunk_id).exists()

    deleted = _ok(Answer.of("envoy", farm.gswarm.envoy.call("DELETE", f"/api/v1/data/{chunk_id}")))
    assert deleted["success"] is True and deleted["message"] == f"Data chunk {chunk_id} deleted", deleted
    [delete_task] = deleted["data"]["delete_tasks"]
    assert _ended(farm, delete_task)["status"] == "completed"
    assert not arrived.exists()
    assert_envelope_error(farm.gswarm.ask("GET", f"/api/v1/data/{chunk_id}"), 404, "NOT_FOUND")


def test_a_chunk_from_a_file_url_learns_its_size_and_checksum(farm: Farm, tmp_path: Path) -> None:
    source = tmp_path / "tensor.bin"
    source.write_bytes(os.urandom(70_000))
    created = _ok(Answer.of("envoy", farm.gswarm.envoy.call("POST", "/api/v1/data", json={
        "source": str(source), "device": "disk", "type": "intermediate"})), 201)  # fmt: skip
    chunk = created["chunk"]
    assert created["size"] == 70_000 and chunk["format"] == "tensor" and chunk["chunk_type"] == "intermediate"
    assert chunk["metadata"]["checksum"] == "sha256:" + hashlib.sha256(source.read_bytes()).hexdigest()
    [(where, status)] = _locations(chunk).items()
    node = next(a for a in farm.agents if where == f"{a.node_id}:disk")
    assert status == "available" and _stored(node, "disk", created["chunk_id"]).read_bytes() == source.read_bytes()


def test_bad_requests_are_refused_with_the_documents_envelope(farm: Farm) -> None:
    assert_envelope_error(farm.gswarm.ask("GET", "/api/v1/data/chunk-000000000000"), 404, "NOT_FOUND")
    assert_envelope_error(farm.gswarm.ask("POST", "/api/v1/data", json={"data": "not base64!"}), 400, "INVALID_REQUEST")
    assert_envelope_error(farm.gswarm.ask("POST", "/api/v1/data", json={}), 400, "INVALID_REQUEST")
    assert_envelope_error(farm.gswarm.ask("POST", "/api/v1/data", json={"data": "AAAA", "device": "tape"}), 400,
                          "INVALID_REQUEST")  # fmt: skip
    assert_envelope_error(farm.gswarm.ask("POST", "/api/v1/data", json={"data": "AAAA", "device": "nowhere:dram"}),
                          404, "NOT_FOUND")  # fmt: skip
    assert_envelope_error(farm.gswarm.ask("POST", "/api/v1/data/chunk-000000000000/move", json={"target_device": "disk"}),
                          404, "NOT_FOUND")  # fmt: skip
    before = _ok(farm.gswarm.ask("GET", "/api/v1/data")[0])
    assert_envelope_error(farm.gswarm.ask("POST", "/api/v1/data", json={"data": "AAAA", "device": "gpu99"}),
                          503, "RESOURCE_UNAVAILABLE")  # fmt: skip
    one = farm.agents[0]
    assert_envelope_error(farm.gswarm.ask("POST", "/api/v1/data", json={"data": "AAAA", "device": f"{one.node_id}:gpu99"}),
                          400, "INVALID_REQUEST")  # fmt: skip
    assert _ok(farm.gswarm.ask("GET", "/api/v1/data")[0]) == before  # a refused create leaves nothing


def test_a_chunk_a_pending_task_names_is_deleted_only_with_force(farm: Farm) -> None:
    """Last: it stops the second agent, so that a transfer to it stays pending."""
    one, two = farm.agents
    created = _ok(Answer.of("gateway", farm.gswarm.gateway.call("POST", "/api/v1/data", json={
        "data": base64.b64encode(b"x" * 1000).decode(), "device": f"{one.node_id}:disk"})), 201)  # fmt: skip
    chunk_id = created["chunk_id"]
    two.stop()
    wait_for(lambda: len(farm.client.online_nodes()) == 1, what="the second agent to leave")
    sent = _ok(Answer.of("gateway", farm.gswarm.gateway.call("POST", f"/api/v1/data/{chunk_id}/transfer",
                                                             json={"target_node": two.node_id})))  # fmt: skip
    chunk = _ok(farm.gswarm.ask("GET", f"/api/v1/data/{chunk_id}")[1])
    assert chunk["references"] == [sent["task_id"]] and _locations(chunk)[f"{two.node_id}:dram"] == "pending"
    assert_envelope_error(farm.gswarm.ask("DELETE", f"/api/v1/data/{chunk_id}"), 409, "CONFLICT")
    forced = _ok(Answer.of("envoy", farm.gswarm.envoy.call("DELETE", f"/api/v1/data/{chunk_id}?force=true")))
    assert forced["data"]["cancelled_tasks"] == [sent["task_id"]]
    assert _ended(farm, sent["task_id"])["status"] == "cancelled"
    [delete_task] = forced["data"]["delete_tasks"]
    assert _ended(farm, delete_task)["status"] == "completed"
    assert not _stored(one, "disk", chunk_id).exists()

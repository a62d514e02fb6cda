"""gswarm's client API (seeds/002, Model Operations APIs) on each agent's gswarm_client listener,
through the agent's own Python gateway and through Envoy in front of its node-local gRPC port:
a real torch model served over HTTP by the test is downloaded onto a node (its location appears in
the host's registry), a bad checksum fails and keeps nothing, it moves to DRAM, it is copied node to
node (the same sha256 on both), it is deleted; a slow download is cancelled and leaves no partial
file; every documented error code; and the operations are the farm's tasks (/api/v1/queue)."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path
from typing import Any, Iterator

import pytest
import requests

from both_doors import Answer, Doors, assert_envelope_error
from conftest import Door
from farm_processes import API_KEY, AgentProcess, Client, ControllerProcess, GatewayProcess, free_port, wait_for
from model_server import ModelServer, Route

pytestmark = pytest.mark.slow


def _checkpoint() -> bytes:
    """A small trained-model checkpoint as aifarm's trainer saves one."""
    import torch

    from agent.training.models import build_model

    torch.manual_seed(3)
    model = build_model("mlp", (8,), 3)
    buffer = io.BytesIO()
    torch.save({"model_state_dict": model.state_dict(), "architecture": "mlp", "input_shape": [8], "num_classes": 3},
               buffer)  # fmt: skip
    return buffer.getvalue()


class Farm:
    def __init__(self, root: Path) -> None:
        self.controller = ControllerProcess(root / "controller", free_port(), extra=["--rate-limit-per-minute", "0"]).start()
        self.agents = [AgentProcess(self.controller.address, root / f"agent{i}").start() for i in (1, 2)]
        self.client = Client(self.controller.address)
        wait_for(lambda: len(self.client.online_nodes()) == 2, what="both agents to join")
        self.host = GatewayProcess(self.controller.address, root / "gateway.log").start()

    def stop(self) -> None:
        self.host.stop()
        self.client.close()
        for agent in self.agents:
            agent.stop()
        self.controller.kill()


@pytest.fixture(scope="module")
def farm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Farm]:
    f = Farm(tmp_path_factory.mktemp("gswarm-client"))
    yield f
    f.stop()


@pytest.fixture(scope="module")
def nodes(farm: Farm, tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[Doors]]:
    """Each agent's client API through its own gateway and through an Envoy in front of it."""
    from envoy_process import EnvoyProcess

    envoys = [EnvoyProcess(tmp_path_factory.mktemp(f"envoy{i}"), agent.local_grpc,
                           listeners={"gswarm_client": ("127.0.0.1", free_port())}).start()
              for i, agent in enumerate(farm.agents)]  # fmt: skip
    yield [Doors(Door("gateway", agent.gswarm_url), Door("envoy", envoy.url)) for agent, envoy in zip(farm.agents, envoys)]
    for envoy in envoys:
        envoy.stop()


@pytest.fixture(scope="module")
def files() -> Iterator[ModelServer]:
    server = ModelServer({})
    yield server
    server.stop()


def _host(farm: Farm, method: str, path: str, **kw: Any) -> requests.Response:
    return requests.request(method, farm.host.gswarm_url + path, headers={"Authorization": f"Bearer {API_KEY}"},
                            timeout=30, **kw)  # fmt: skip


def _register(farm: Farm, name: str, url: str, size: int, sha256: str) -> None:
    reply = _host(farm, "POST", "/api/v1/models", json={"model_name": name, "model_type": "classifier",
                                                        "model_size": size, "source_url": url,
                                                        "metadata": {"sha256": sha256, "framework": "pytorch"}})  # fmt: skip
    assert reply.status_code == 201, reply.text


def _ended(farm: Farm, task_id: str, timeout: float = 60) -> dict[str, Any]:
    def ended() -> dict[str, Any] | None:
        task = _host(farm, "GET", f"/api/v1/queue/tasks/{task_id}").json()
        return task if task["status"] in ("completed", "failed", "cancelled") else None

    return wait_for(ended, timeout=timeout, what=f"task {task_id} to end")


def _queued(answer: Answer) -> str:
    assert answer.status == 200, answer.describe()
    body = answer.body
    assert set(body) == {"task_id", "status", "position", "estimated_time"} and body["status"] == "queued", body
    assert isinstance(body["position"], int) and isinstance(body["estimated_time"], (int, float)), body
    return body["task_id"]


def _locations(farm: Farm, name: str) -> set[str]:
    reply = _host(farm, "GET", f"/api/v1/models/{name}/locations")
    assert reply.status_code == 200, reply.text
    return {loc["device"] for loc in reply.json()["locations"]}


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _error(answers: tuple[Answer, Answer], status: int, code: str) -> None:
    assert_envelope_error(answers, status, code)
    assert answers[0].body == answers[1].body, (answers[0].describe(), answers[1].describe())


def test_a_model_downloads_moves_copies_and_is_deleted_with_its_locations(farm: Farm, nodes: list[Doors],
                                                                         files: ModelServer) -> None:  # fmt: skip
    body = _checkpoint()
    sha = hashlib.sha256(body).hexdigest()
    files.routes["/weights/clf.pt"] = Route(body, "application/octet-stream")
    _register(farm, "clf-small", f"{files.url}/weights/clf.pt", len(body), sha)
    node1, node2 = (agent.node_id for agent in farm.agents)
    one, two = nodes

    download = one.gateway.call("POST", "/api/v1/models/clf-small/download",
                                json={"target_device": "disk", "priority": "normal", "verify_checksum": True})
    task_id = _queued(Answer.of("gateway", download))
    assert task_id.startswith("download-clf-small-")
    done = _ended(farm, task_id)
    assert done["status"] == "completed" and done["task_type"] == "download", done
    assert done["resources"]["models"] == ["clf-small"] and done["resources"]["devices"] == [f"{node1}:disk"], done
    disk_file = farm.agents[0].data_dir / "local-models" / "disk" / "clf-small"
    assert _sha(disk_file) == sha
    wait_for(lambda: _locations(farm, "clf-small") == {f"{node1}:disk"}, what="the disk location")

    listed = [a.body for a in one.ask("GET", "/api/v1/models")]
    assert listed[0] == listed[1] and listed[0]["models"] == [
        {"model_name": "clf-small", "device": "disk", "size": len(body), "sha256": sha, "status": "available"}]

    moved = _queued(Answer.of("envoy", one.envoy.call("POST", "/api/v1/models/clf-small/move", json={
        "source_device": "disk", "target_device": "dram", "keep_source": True, "priority": "high"})))  # fmt: skip
    assert _ended(farm, moved)["status"] == "completed"
    assert _sha(Path(f"/dev/shm/aifarm-{node1}/clf-small")) == sha
    wait_for(lambda: _locations(farm, "clf-small") == {f"{node1}:disk", f"{node1}:dram"}, what="the dram location")

    copied = _queued(Answer.of("gateway", one.gateway.call("POST", "/api/v1/models/clf-small/copy", json={
        "source_device": f"{node1}:disk", "target_device": f"{node2}:disk", "bandwidth_limit": 10_000_000})))  # fmt: skip
    assert (copy := _ended(farm, copied))["status"] == "completed", copy["error"]
    assert _sha(farm.agents[1].data_dir / "local-models" / "disk" / "clf-small") == sha
    wait_for(lambda: f"{node2}:disk" in _locations(farm, "clf-small"), what="the copy's location")

    deleted = two.envoy.call("DELETE", "/api/v1/models/clf-small", params={"device": "disk"})
    assert deleted.status_code == 200, deleted.text
    assert deleted.json()["success"] is True and deleted.json()["data"]["model_name"] == "clf-small"
    assert not (farm.agents[1].data_dir / "local-models" / "disk" / "clf-small").exists()
    wait_for(lambda: _locations(farm, "clf-small") == {f"{node1}:disk", f"{node1}:dram"}, what="the copy's location gone")
    # Every operation is a task of the farm, pinned to its node: the core API shows them.
    core = {name: farm.client.get(f"tasks/{name}") for name in (task_id, moved, copied)}
    assert core[copied].resources.node == node2 and core[task_id].model_operation.source_url.endswith("/clf.pt")


def test_a_bad_checksum_fails_the_download_and_keeps_nothing(farm: Farm, nodes: list[Doors], files: ModelServer) -> None:
    body = b"not the bytes the registry expects" * 1000
    files.routes["/weights/bad.pt"] = Route(body, "application/octet-stream")
    _register(farm, "clf-bad", f"{files.url}/weights/bad.pt", len(body), "0" * 64)
    task_id = _queued(Answer.of("envoy", nodes[0].envoy.call("POST", "/api/v1/models/clf-bad/download",
                                                             json={"verify_checksum": True})))  # fmt: skip
    done = _ended(farm, task_id)
    assert done["status"] == "failed" and done["error_code"] == "TASK_FAILED" and "checksum mismatch" in done["error"], done
    disk = farm.agents[0].data_dir / "local-models" / "disk"
    assert not (disk / "clf-bad").exists() and not list(disk.glob(".*.part"))
    assert _locations(farm, "clf-bad") == set()


def test_a_cancelled_slow_download_leaves_no_partial_file(farm: Farm, nodes: list[Doors], files: ModelServer) -> None:
    body = bytes(range(256)) * 4096  # 1 MiB, a KiB every 20 ms: about 20 s
    files.routes["/weights/slow.pt"] = Route(body, "application/octet-stream", trickle_per_kib=0.02)
    _register(farm, "clf-slow", f"{files.url}/weights/slow.pt", len(body), hashlib.sha256(body).hexdigest())
    task_id = _queued(Answer.of("gateway", nodes[0].gateway.call("POST", "/api/v1/models/clf-slow/download", json={})))
    disk = farm.agents[0].data_dir / "local-models" / "disk"
    wait_for(lambda: list(disk.glob(".clf-slow.*.part")), what="the partial file")
    progress = wait_for(lambda: _host(farm, "GET", f"/api/v1/queue/tasks/{task_id}").json()["progress"], what="progress")
    assert 0 < progress < 100
    cancel = _host(farm, "POST", f"/api/v1/queue/tasks/{task_id}/cancel")
    assert cancel.status_code == 200, cancel.text
    assert _ended(farm, task_id)["status"] == "cancelled"
    wait_for(lambda: not list(disk.glob(".clf-slow.*.part")), what="the partial file removed")
    assert not (disk / "clf-slow").exists() and _locations(farm, "clf-slow") == set()


@pytest.mark.parametrize(("method", "path", "body", "status", "code"), [
    ("POST", "/api/v1/models/no-such-model/download", {}, 404, "MODEL_NOT_FOUND"),
    ("POST", "/api/v1/models/clf-x/download", {"target_device": "tape"}, 400, "INVALID_REQUEST"),
    ("POST", "/api/v1/models/clf-x/download", {"target_device": "gpu0"}, 400, "RESOURCE_UNAVAILABLE"),
    ("POST", "/api/v1/models/clf-x/download", {"priority": "urgent"}, 400, "INVALID_REQUEST"),
    ("POST", "/api/v1/models/clf-x/download", {"source_url": "ftp://x/y"}, 400, "INVALID_REQUEST"),
    ("POST", "/api/v1/models/..%2Fescape/download", {}, 400, "INVALID_REQUEST"),
    ("POST", "/api/v1/models/clf-x/move", {"source_device": "disk", "target_device": "dram"}, 404, "MODEL_NOT_FOUND"),
    ("POST", "/api/v1/models/clf-x/move", {"source_device": "disk", "target_device": "dram", "compression": "zstd"},
     501, "NOT_IMPLEMENTED"),
    ("POST", "/api/v1/models/clf-x/copy", {"source_device": "disk", "target_device": "n2:disk"}, 400, "INVALID_REQUEST"),
    ("POST", "/api/v1/models/clf-x/copy", {"source_device": "n1:disk", "target_device": "nowhere:disk"}, 404, "NOT_FOUND"),
    ("DELETE", "/api/v1/models/clf-x", None, 404, "MODEL_NOT_FOUND"),
])  # fmt: skip
def test_every_error_has_its_code_through_both_doors(farm: Farm, nodes: list[Doors], method: str, path: str,
                                                     body: Any, status: int, code: str) -> None:  # fmt: skip
    if not _host(farm, "GET", "/api/v1/models/clf-x").ok:
        _register(farm, "clf-x", "http://127.0.0.1:1/x", 10, "")
    _error(nodes[0].ask(method, path, json=body), status, code)


def test_a_download_from_an_unreachable_source_fails_with_network_error(farm: Farm, nodes: list[Doors]) -> None:
    _register(farm, "clf-away", "http://127.0.0.1:1/nothing-listens-here", 10, "")
    task_id = _queued(Answer.of("gateway", nodes[0].gateway.call("POST", "/api/v1/models/clf-away/download", json={})))
    done = _ended(farm, task_id)
    assert done["status"] == "failed" and done["error_code"] == "NETWORK_ERROR", done
    assert "cannot fetch http://127.0.0.1:1/nothing-listens-here" in done["error"], done


def test_without_a_key_the_client_api_is_refused(nodes: list[Doors]) -> None:
    for door in nodes[0]:
        reply = door.call("GET", "/api/v1/models", key=None)
        assert reply.status_code == 401, reply.text
        reply = door.call("GET", "/api/v1/resources", key="wrong-key")
        assert reply.status_code == 401, reply.text


def test_resources_show_the_nodes_storage_and_compute(nodes: list[Doors]) -> None:
    answers = nodes[0].ask("GET", "/api/v1/resources")
    for answer in answers:
        assert answer.status == 200, answer.describe()
        storage, compute = answer.body["storage"], answer.body["compute"]
        for device in ("disk", "dram"):
            figures = storage[device]
            assert figures["total"] > 0 and figures["used"] + figures["available"] <= figures["total"] * 1.01, figures
        assert compute["cpu"]["cores"] >= 1 and 0 <= compute["cpu"]["usage"] <= 100


def _serving(doors: Doors, service_id: str) -> dict[str, Any]:
    def listening() -> dict[str, Any] | None:
        status = doors.gateway.call("GET", f"/api/v1/services/{service_id}/status").json()
        assert status["status"] in ("queued", "starting", "running"), status
        return status if status["status"] == "running" else None

    return wait_for(listening, timeout=90, what=f"service {service_id} to listen")


def _predict(url: str, inputs: list[list[float]]) -> list[list[float]]:
    reply = requests.post(f"{url}/predict", json={"inputs": inputs}, timeout=30)
    assert reply.status_code == 200, reply.text
    return reply.json()["outputs"]


def _expected(checkpoint: bytes, inputs: list[list[float]]) -> Any:
    import torch

    from agent.training.models import build_model

    saved = torch.load(io.BytesIO(checkpoint), weights_only=True)
    model = build_model("mlp", (8,), 3)
    model.load_state_dict(saved["model_state_dict"])
    model.eval()
    with torch.no_grad():
        return model(torch.tensor(inputs, dtype=torch.float32))


def test_a_torch_service_serves_the_model_and_is_stopped(farm: Farm, nodes: list[Doors], files: ModelServer) -> None:
    import psutil
    import torch

    body = _checkpoint()
    files.routes["/weights/serve.pt"] = Route(body, "application/octet-stream")
    _register(farm, "clf-serve", f"{files.url}/weights/serve.pt", len(body), hashlib.sha256(body).hexdigest())
    one, two = nodes
    node1, node2 = (agent.node_id for agent in farm.agents)
    downloaded = _queued(Answer.of("gateway", one.gateway.call("POST", "/api/v1/models/clf-serve/download", json={})))
    assert _ended(farm, downloaded)["status"] == "completed"

    started = one.envoy.call("POST", "/api/v1/services", json={"model_name": "clf-serve", "device": "disk", "port": 0,
                                                               "config": {"framework": "torch", "max_batch_size": 8}})
    assert started.status_code == 201 and started.json()["success"] is True, started.text
    service_id = started.json()["data"]["service_id"]
    status = _serving(one, service_id)
    inputs = [[0.1 * i - 0.3 * j for i in range(8)] for j in range(4)]
    assert torch.allclose(torch.tensor(_predict(status["url"], inputs)), _expected(body, inputs), atol=1e-5)
    live = wait_for(lambda: (s := one.envoy.call("GET", f"/api/v1/services/{service_id}/status").json())["requests"] and s,
                    what="the request counted")  # fmt: skip
    assert live["requests"] == 1 and live["latency_ms"]["p50"] > 0 and live["framework"] == "torch", live
    listed = _host(farm, "GET", "/api/v1/services").json()["services"]
    assert [s["status"] for s in listed if s["service_id"] == service_id] == ["running"], listed

    assert {"model_name": "clf-serve", "device": "disk", "size": len(body), "sha256": hashlib.sha256(body).hexdigest(),
            "status": "serving"} in one.gateway.call("GET", "/api/v1/models").json()["models"]
    # A model in use is not deleted from under its service, on the node nor in the registry.
    _error(one.ask("DELETE", "/api/v1/models/clf-serve", params={"device": "disk"}), 409, "CONFLICT")
    refused = _host(farm, "DELETE", "/api/v1/models/clf-serve")
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "CONFLICT", refused.text

    stopped = one.gateway.call("DELETE", f"/api/v1/services/{service_id}")
    assert stopped.status_code == 200 and stopped.json()["success"] is True, stopped.text
    wait_for(lambda: one.gateway.call("GET", f"/api/v1/services/{service_id}/status").json()["status"] == "stopped",
             what="the service stopped")  # fmt: skip
    assert not _port_listening(status["port"])
    _error(one.ask("DELETE", f"/api/v1/services/{service_id}"), 409, "CONFLICT")

    # The host deploys to a node that does not hold the model: it is downloaded there first.
    deployed = _host(farm, "POST", "/api/v1/services", json={"model_name": "clf-serve", "nodes": [node2],
                                                             "config": {"port": 0, "replicas": 1}})  # fmt: skip
    assert deployed.status_code == 201, deployed.text
    data = deployed.json()["data"]
    assert len(data["services"]) == 1 and len(data["downloads"]) == 1, data
    remote = _serving(two, data["services"][0])
    assert torch.allclose(torch.tensor(_predict(remote["url"], inputs)), _expected(body, inputs), atol=1e-5)
    assert f"{node2}:disk" in _locations(farm, "clf-serve")

    # A server that dies is reported failed, not running.
    pid = next(c.pid for c in psutil.net_connections("tcp") if c.laddr and c.laddr.port == remote["port"] and c.pid)
    psutil.Process(pid).kill()
    failed = wait_for(lambda: (s := two.gateway.call("GET", f"/api/v1/services/{data['services'][0]}/status").json())
                      ["status"] == "failed" and s, what="the dead service reported failed")  # fmt: skip
    assert "killed by signal" in failed["error"], failed

    # With force, a model's running services are stopped and it is deleted.
    again = _host(farm, "POST", "/api/v1/services", json={"model_name": "clf-serve", "nodes": [node1]})
    service = again.json()["data"]["services"][0]
    _serving(one, service)
    forced = _host(farm, "DELETE", "/api/v1/models/clf-serve", params={"force": "true"})
    assert forced.status_code == 200 and forced.json()["data"]["stopped_services"] == [service], forced.text
    assert _host(farm, "GET", "/api/v1/models/clf-serve").status_code == 404


def _port_listening(port: int) -> bool:
    import psutil

    return any(c.laddr and c.laddr.port == port and c.status == "LISTEN" for c in psutil.net_connections("tcp"))


def test_a_framework_that_is_not_installed_is_refused_by_name(nodes: list[Doors]) -> None:
    answers = nodes[0].ask("POST", "/api/v1/services", json={"model_name": "clf-x", "device": "disk",
                                                              "config": {"framework": "vllm"}})  # fmt: skip
    _error(answers, 400, "RESOURCE_UNAVAILABLE")
    assert "'vllm' is not installed" in answers[0].body["detail"]


def test_a_peer_read_needs_the_controllers_ticket(farm: Farm) -> None:
    import grpc

    from aifarm.v1 import peer_service_pb2, peer_service_pb2_grpc

    with grpc.insecure_channel(farm.agents[0].local_grpc) as channel:
        stub = peer_service_pb2_grpc.PeerServiceStub(channel)
        for model, ticket in (("clf-small", "9999999999.00ff"), ("clf-small", ""), ("../../node_secret", "1.ab")):
            request = peer_service_pb2.ReadPeerModelRequest(model=model, device="disk", task_id="t", attempt=1,
                                                            reader_node="intruder", ticket=ticket)  # fmt: skip
            with pytest.raises(grpc.RpcError) as refused:
                list(stub.ReadPeerModel(request, timeout=10))
            assert refused.value.code() is grpc.StatusCode.PERMISSION_DENIED, refused.value


def test_after_an_agent_restart_the_locations_are_where_the_bytes_are(farm: Farm) -> None:
    node1 = farm.agents[0].node_id
    assert {f"{node1}:disk", f"{node1}:dram"} <= _locations(farm, "clf-small")
    forgotten = _host(farm, "DELETE", f"/api/v1/models/clf-small/locations/{node1}:disk")
    assert forgotten.status_code == 200, forgotten.text
    _host(farm, "POST", "/api/v1/models/clf-x/locations", json={"device": f"{node1}:disk"})  # bytes it never had
    farm.agents[0].stop()
    farm.agents[0].start()
    wait_for(lambda: _locations(farm, "clf-small") >= {f"{node1}:disk", f"{node1}:dram"}, what="the hello's locations")
    assert f"{node1}:disk" not in _locations(farm, "clf-x")

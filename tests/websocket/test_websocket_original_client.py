"""tolgatasci/ai-farm's own client, message for message (ORIGINAL-CLIENTS.md): only a Client-ID on the
handshake (allowed under --open-legacy aifarm-workers), an untyped first frame of system
information, tasks read as objects or JSON strings, init_distributed answered by the very next frame."""

from __future__ import annotations

import asyncio
import sys
import json
import uuid
from typing import Iterator

import pytest
import requests
import torch

from conftest import Worker, WsFarm, start_ws_farm
from model_server import ModelServer, Route, create_model_code

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def legacy_farm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WsFarm]:
    yield from start_ws_farm(tmp_path_factory.mktemp("wslegacy"), ["--open-legacy", "aifarm-workers"])


def _system_info(client_id: str) -> dict:
    """The original's first frame: get_system_info() (psutil byte counts, GPUtil figures)."""
    return {
        "id": client_id, "hostname": "worker-host",
        "platform": {"system": "Linux", "release": "6.1", "version": "#1", "machine": "x86_64", "processor": ""},
        "cpu": {"brand": "Test CPU", "cores_physical": 4, "cores_logical": 8,
                "frequency": {"current": 2000.0, "min": None, "max": None}, "usage_percent": 12.5},
        "ram": {"total": 16 * 2**30, "available": 8 * 2**30, "used": 8 * 2**30, "percent": 50.0},
        "gpu": None,
        "session": {"created_at": "2024-11-04T12:00:00", "total_tasks_completed": 0, "performance_metrics": {}},
    }  # fmt: skip


def _loaded(value: object) -> dict:
    """How the original reads config and requirements: an object or a JSON string."""
    return json.loads(value) if isinstance(value, str) else value  # type: ignore[return-value]


async def test_the_original_client_gets_and_finishes_a_task(legacy_farm: WsFarm, workers: list[Worker]) -> None:
    client_id = uuid.uuid4().hex  # its id: 32 hex characters of a machine hash
    worker = await Worker.connect(legacy_farm.ws_url, client_id, token=None)
    workers.append(worker)
    await worker.ws.send_str(json.dumps(_system_info(client_id)))
    await worker.ws.send_str(json.dumps({"type": "task_request", "client_id": client_id}))
    task_id = await asyncio.to_thread(legacy_farm.create_script_task)
    message = await worker.recv("task")
    task = message["data"]
    config, requirements = _loaded(task["config"]), _loaded(task["requirements"])
    assert task["id"] == task_id
    for key in ("name", "batch_size", "learning_rate", "epochs"):  # read without defaults
        assert key in config
    assert requirements["min_cpu_cores"] >= 0 and "min_ram" in requirements and "min_gpu_memory" in requirements

    node = legacy_farm.rest("GET", f"/v1/nodes/{client_id}").json()
    assert node["capabilities"]["cpu_cores"] == 8 and node["capabilities"]["memory_mb"] == 16 * 1024
    assert node["hostname"] == "worker-host"

    # Its distributed set-up: init_distributed, and the answer is the very next frame.
    await worker.ws.send_str(json.dumps({"type": "init_distributed", "task_id": task_id, "client_id": client_id,
                                         "rank": config.get("rank", 0)}))  # fmt: skip
    answer = await worker.raw()
    init = answer.get("data", answer)
    assert answer.get("status") != "error"
    assert init["world_size"] == 1 and init["rank"] == 0 and init["master_addr"] == "127.0.0.1"
    assert 0 < init["master_port"] < 65536
    assert init["shard_info"] == {"id": 0, "total_shards": 1, "start_point": 0, "end_point": 100}
    await worker.ws.send_str(json.dumps({"type": "distributed_ready", "task_id": task_id, "client_id": client_id,
                                         "rank": 0}))  # fmt: skip

    await worker.ws.send_str(json.dumps({
        "type": "task_progress", "task_id": task_id, "client_id": client_id, "progress": 50.0,
        "metrics": {"progress": 50.0, "loss": 0.7, "resources": {"cpu_usage": 30.0}},
        "timestamp": "2024-11-04T12:00:00",
    }))  # fmt: skip
    await worker.ws.send_str(json.dumps({
        "type": "task_result", "task_id": task_id, "client_id": client_id, "status": "completed",
        "metrics": {"loss": 0.2, "resources": {"cpu_usage": 31.0}}, "checkpoint_path": "./aggregated_models/x.pt",
        "shard_info": init["shard_info"], "rank": 0,
    }))  # fmt: skip
    await worker.recv("task_result_ack")
    done = legacy_farm.task(task_id)
    assert done["state"] == "TASK_STATE_COMPLETED"
    assert done["metrics"]["loss"] == pytest.approx(0.2) and done["metrics"]["resources.cpu_usage"] == pytest.approx(31.0)


async def test_a_bad_token_is_refused_even_with_the_group_open(legacy_farm: WsFarm) -> None:
    worker = await Worker.connect(legacy_farm.ws_url, uuid.uuid4().hex, token="wrong")
    try:
        assert (await worker.closed())[0] == 1008
    finally:
        await worker.close()


#: What the original does once init_distributed has answered: torch.distributed over tcp:// with the
#: master it was given, a DDP loop on its shard, then its final weights and losses (as JSON).
_RANK = """
import hashlib, json, sys
import torch, torch.distributed as dist
master, port, world, rank = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
dist.init_process_group("gloo", init_method=f"tcp://{master}:{port}", world_size=world, rank=rank, timeout=__import__("datetime").timedelta(seconds=60))
torch.manual_seed(0)
model = torch.nn.parallel.DistributedDataParallel(torch.nn.Linear(8, 2))
opt = torch.optim.SGD(model.parameters(), lr=0.1)
g = torch.Generator().manual_seed(100 + rank)  # each rank its own shard
x = torch.randn(256, 8, generator=g)
y = (x[:, 0] > 0).long()
losses = []
for _ in range(30):
    opt.zero_grad()
    loss = torch.nn.functional.cross_entropy(model(x), y)
    loss.backward()
    opt.step()
    losses.append(loss.item())
weights = b"".join(p.detach().numpy().tobytes() for p in model.module.parameters())
print(json.dumps({"first": losses[0], "last": losses[-1], "weights": hashlib.sha256(weights).hexdigest()}))
dist.destroy_process_group()
"""


async def _original_rank(farm: WsFarm, worker: Worker, client_id: str) -> dict:
    """One original client through a distributed task: task, init_distributed, the DDP loop, result."""
    task = (await worker.recv("task", timeout=60))["data"]
    config = _loaded(task["config"])
    assert config["distributed"] is True and config["n_clients"] == 2
    await worker.ws.send_str(json.dumps({"type": "init_distributed", "task_id": task["id"], "client_id": client_id,
                                         "rank": config["rank"]}))  # fmt: skip
    answer = await worker.raw()
    init = answer.get("data", answer)
    assert (init["world_size"], init["rank"]) == (2, config["rank"])
    assert init["shard_info"] == {"id": config["rank"], "total_shards": 2, "start_point": 0, "end_point": 100}
    await worker.ws.send_str(json.dumps({"type": "distributed_ready", "task_id": task["id"], "client_id": client_id,
                                         "rank": init["rank"]}))  # fmt: skip
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", _RANK, init["master_addr"], str(init["master_port"]), "2", str(init["rank"]),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), timeout=120)
    assert proc.returncode == 0, err.decode()
    trained = json.loads(out)
    await worker.ws.send_str(json.dumps({
        "type": "task_result", "task_id": task["id"], "client_id": client_id, "status": "completed",
        "metrics": {"loss": trained["last"]}, "checkpoint_path": f"./checkpoints/{task['id']}.pt",
        "error_log": None, "shard_info": init["shard_info"], "rank": init["rank"],
    }))  # fmt: skip
    await worker.recv("task_result_ack")
    return {"task_id": task["id"], "rank": init["rank"], **trained}


async def test_two_original_clients_train_one_distributed_task(legacy_farm: WsFarm, workers: list[Worker]) -> None:
    """A gang of two: each original client is one rank, the master is the one the controller handed
    out, the gradients really are all-reduced (identical weights), and the task completes once."""
    ids = [uuid.uuid4().hex for _ in range(2)]
    for client_id in ids:
        worker = await Worker.connect(legacy_farm.ws_url, client_id, token=None)
        workers.append(worker)
        await worker.ws.send_str(json.dumps(_system_info(client_id)))
        await worker.ws.send_str(json.dumps({"type": "task_request", "client_id": client_id}))
    reply = legacy_farm.rest("POST", "/v1/tasks", json={"display_name": "gang", "world_size": 2, "max_retries": 0,
                                                         "training": {"architecture": "mlp", "epochs": 1, "synthetic": {"samples": 64}}})  # fmt: skip
    assert reply.status_code == 201, reply.text
    task_id = reply.json()["name"].removeprefix("tasks/")
    ranks = await asyncio.gather(*(_original_rank(legacy_farm, w, c) for w, c in zip(workers[-2:], ids)))
    assert {r["task_id"] for r in ranks} == {task_id} and sorted(r["rank"] for r in ranks) == [0, 1]
    assert ranks[0]["weights"] == ranks[1]["weights"]
    assert all(r["last"] < r["first"] for r in ranks)
    done = legacy_farm.wait_task(task_id, "TASK_STATE_COMPLETED")
    assert sorted((r.get("rank", 0), r["node"]) for r in done["ranks"]) == sorted(
        (r["rank"], f"nodes/{c}") for r, c in zip(ranks, ids))  # fmt: skip


def _train_as_the_original(config: dict, steps: int = 40) -> list[float]:
    """What the original's ModelLoader and training core do with a task: GET config.url with its
    Version header, take the answer's "code", exec it, create_model() -> (model, optimizer), train."""
    reply = requests.get(config["url"], headers={"Version": config["version"], "Accept": "application/json"},
                         timeout=10)  # fmt: skip
    reply.raise_for_status()
    namespace: dict = {}
    exec(reply.json()["code"], namespace)  # noqa: S102 - the original runs the model server's code
    model, optimizer = namespace["create_model"]()
    g = torch.Generator().manual_seed(1)
    x = torch.randn(128, 16, generator=g)
    y = (x[:, 0] > 0).long() + 2 * (x[:, 1] > 0).long()
    losses = []
    for _ in range(steps):
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(x), y)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses


async def test_the_original_client_trains_a_task_from_its_model_url(legacy_farm: WsFarm, workers: list[Worker]) -> None:
    """An AI Farm task whose url is a model server: the original client reads config.url/version,
    fetches the code, trains it, reports progress and a result, and the task completes with its loss."""
    server = ModelServer({"/models/net/1.0": Route.code(create_model_code(features=16, classes=4), version="1.0")})
    try:
        client_id = uuid.uuid4().hex
        worker = await Worker.connect(legacy_farm.ws_url, client_id, token=None)
        workers.append(worker)
        await worker.ws.send_str(json.dumps(_system_info(client_id)))
        await worker.ws.send_str(json.dumps({"type": "task_request", "client_id": client_id}))
        reply = legacy_farm.rest("POST", "/api/tasks", json={
            "type": "training", "name": "net", "url": server.url + "/models/net/1.0", "version": "1.0",
            "batch_size": 32, "learning_rate": 0.01, "epochs": 1, "distributed": False, "n_clients": 1,
            "requirements": {"min_gpu_memory": 0, "min_cpu_cores": 1, "min_ram": 1},
        })  # fmt: skip
        assert reply.status_code == 201, reply.text
        task_id = reply.json()["id"]
        task = (await worker.recv("task"))["data"]
        config = _loaded(task["config"])
        assert task["id"] == task_id and config["distributed"] is False
        losses = await asyncio.to_thread(_train_as_the_original, config)
        assert server.versions == ["1.0"] and losses[-1] < losses[0]
        await worker.ws.send_str(json.dumps({
            "type": "task_progress", "task_id": task_id, "client_id": client_id, "progress": 50.0,
            "metrics": {"progress": 50.0, "loss": losses[len(losses) // 2]}, "timestamp": "2024-11-04T12:00:00",
        }))  # fmt: skip
        await worker.ws.send_str(json.dumps({
            "type": "task_result", "task_id": task_id, "client_id": client_id, "status": "completed",
            "metrics": {"loss": losses[-1]}, "checkpoint_path": f"./checkpoints/{task_id}.pt", "error_log": None,
            "shard_info": {"id": 0, "total_shards": 1, "start_point": 0, "end_point": 100}, "rank": 0,
        }))  # fmt: skip
        await worker.recv("task_result_ack")
        done = legacy_farm.rest("GET", f"/api/tasks/{task_id}").json()
        assert done["status"] == "completed" and done["metrics"]["loss"] == pytest.approx(losses[-1])
    finally:
        server.stop()

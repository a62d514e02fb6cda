"""The mapping between AI Farm's WebSocket messages and AgentService frames (gateway.websocket_messages)."""

from __future__ import annotations

import json

import pytest

from aifarm.v1 import agent_service_pb2 as pb
from aifarm.v1 import node_pb2, task_pb2
from gateway import websocket_messages as wm


def test_frames_must_be_json_objects() -> None:
    assert wm.parse_frame('{"type": "heartbeat"}') == {"type": "heartbeat"}
    for text in ("not json", "[1, 2]", '"text"'):
        with pytest.raises(wm.BadMessage) as refused:
            wm.parse_frame(text)
        assert refused.value.code == "UNSUPPORTED_DATA"


def test_the_original_clients_system_information_is_the_nodes_hardware() -> None:
    info = {"cpu": {"cores_logical": 8, "usage_percent": 12.5},
            "ram": {"total": 16 * 2**30, "used": 4 * 2**30, "percent": 25.0},
            "gpu": [{"id": 0, "name": "NVIDIA RTX 3080", "load": 0.5, "memory": {"total": 10240, "used": 3072}}],
            "platform": {"system": "Linux", "machine": "x86_64"}}  # fmt: skip
    caps = wm.capabilities(info)
    assert (caps.cpu_cores, caps.memory_mb, caps.os) == (8, 16384, "Linux")
    assert [(g.index, g.name, g.memory_mb) for g in caps.gpus] == [(0, "NVIDIA RTX 3080", 10240)]
    usage = wm.usage(info, caps)
    assert (usage.cpu_percent, usage.memory_percent, usage.memory_used_mb) == (12.5, 25.0, 4096)
    assert usage.gpus[0].utilization_percent == pytest.approx(50.0) and usage.gpus[0].memory_used_mb == 3072


def test_the_documents_usage_figures() -> None:
    caps = wm.capabilities(None)
    assert (caps.cpu_cores, caps.memory_mb) == (wm.DEFAULT_CPU_CORES, wm.DEFAULT_MEMORY_MB)
    usage = wm.usage({"cpu_usage": 45.2, "ram_usage": 60.5, "gpu_usage": 80.0}, caps)
    assert usage.cpu_percent == pytest.approx(45.2) and usage.memory_percent == pytest.approx(60.5)
    assert usage.gpus[0].utilization_percent == pytest.approx(80.0)


def _assignment(**task: object) -> pb.Assignment:
    return pb.Assignment(task=task_pb2.Task(name="tasks/t1", **task), attempt=3)


def test_a_task_message_carries_the_documents_keys() -> None:
    message = wm.task_message(_assignment(training=task_pb2.TrainingSpec(architecture="mlp", epochs=4, batch_size=16,
                                                                         model_url="http://models/m/1.0",
                                                                         model_version="1.0"),
                                          resources=node_pb2.Resources(cpu_cores=2, memory_mb=512)),
                              wm.rendezvous(None))  # fmt: skip
    assert message["type"] == "task"
    data = message["data"]
    assert (data["id"], data["type"], data["attempt"]) == ("t1", "training", 3)
    assert data["requirements"] == {"min_gpu_memory": 0, "min_cpu_cores": 2, "min_ram": 512, "gpus": 0}
    config = data["config"]
    assert (config["name"], config["epochs"], config["batch_size"], config["distributed"]) == ("mlp", 4, 16, False)
    assert (config["url"], config["version"]) == ("http://models/m/1.0", "1.0")
    json.dumps(message)  # plain JSON all through


def test_rendezvous_of_a_single_rank_and_of_a_gang_rank() -> None:
    single = wm.rendezvous(_assignment())
    assert (single["world_size"], single["rank"], single["master_addr"]) == (1, 0, "127.0.0.1")
    assert 0 < single["master_port"] < 65536
    fields = pb.Assignment.DESCRIPTOR.fields_by_name
    if {"rank", "world_size", "master_addr", "master_port"} <= set(fields):  # gang scheduling's fields
        gang = pb.Assignment(rank=2, world_size=3, master_addr="10.0.0.5", master_port=29500)
        assert wm.rendezvous(gang) == {"master_addr": "10.0.0.5", "master_port": 29500, "world_size": 3, "rank": 2,
                                       "shard_info": {"id": 2, "total_shards": 3, "start_point": 0, "end_point": 100}}


def test_progress_is_a_percentage_and_metrics_are_flattened() -> None:
    update = wm.progress_update({"task_id": "t1", "progress": 45.5,
                                 "metrics": {"loss": 0.5, "resources": {"cpu_usage": 30}, "note": "x"}}, 2)  # fmt: skip
    assert update.progress == pytest.approx(0.455) and update.attempt == 2
    assert dict(update.metric.values) == {"loss": 0.5, "resources.cpu_usage": 30.0}


def test_a_result_ends_the_attempt() -> None:
    done = wm.result_update({"task_id": "t1", "status": "completed", "metrics": {"final_loss": 0.1}}, 1)
    assert done.state == task_pb2.TASK_STATE_COMPLETED and done.progress == 1.0 and done.result.exit_code == 0
    failed = wm.result_update({"task_id": "t1", "status": "failed", "error": "boom"}, 1)
    assert failed.state == task_pb2.TASK_STATE_FAILED and failed.result.error == "boom"
    with pytest.raises(wm.BadMessage):
        wm.result_update({"task_id": "t1", "status": "exploded"}, 1)
    with pytest.raises(wm.BadMessage):
        wm.result_update({"status": "completed"}, 1)
    assert wm.result_log_lines({"checkpoint_path": "/m.pt"}) == ["checkpoint: /m.pt"]


def test_control_actions() -> None:
    for action, word in ((pb.TASK_ACTION_PAUSE, "pause"), (pb.TASK_ACTION_RESUME, "resume"),
                         (pb.TASK_ACTION_STOP, "stop"), (pb.TASK_ACTION_CANCEL, "cancel")):  # fmt: skip
        message = wm.control_message(pb.TaskControl(task_id="t1", attempt=1, action=action))
        assert (message["type"], message["action"], message["task_id"]) == ("control", word, "t1")


@pytest.mark.parametrize(("peer", "address", "local"), [
    ("127.0.0.1", "127.0.0.1", True), ("::ffff:127.0.0.1", "127.0.0.1", True), ("::1", "::1", True),
    ("10.0.0.7", "10.0.0.7", False), ("::ffff:10.0.0.7", "10.0.0.7", False),
])  # fmt: skip
def test_a_worker_is_offered_as_rank_zero_host_at_its_own_address(peer: str, address: str, local: bool) -> None:
    offered, port = wm.rendezvous_offer(peer)
    assert offered == address
    assert (port != wm.REMOTE_MASTER_PORT) if local else (port == wm.REMOTE_MASTER_PORT)

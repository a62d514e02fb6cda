"""AI Farm's WebSocket messages (seeds/001) <-> aifarm.v1.AgentService frames: pure mapping, no I/O.

The door (gateway.websocket_door) keeps the sockets and the streams; everything here is a
function of its inputs, so each rule of the mapping is tested on its own.

Two dialects reach the door: the document's (typed messages, `system_info` with usage figures)
and tolgatasci/ai-farm's own client (an untyped first frame of system information, `cpu`/`ram`/
`gpu` objects, progress in percent, nested metrics). Both are read here.
"""

from __future__ import annotations

import ipaddress
import json
import math
import socket
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

from google.protobuf import json_format

from aifarm.v1 import agent_service_pb2 as pb
from aifarm.v1 import node_pb2, task_pb2

#: What the document's client may send; anything else is answered with an error and close 1002.
CLIENT_TYPES = frozenset({
    "task_request", "task_progress", "task_result", "heartbeat",
    # tolgatasci/ai-farm's own client (ORIGINAL-CLIENTS.md)
    "init_distributed", "distributed_ready", "distributed_cleanup",
})  # fmt: skip
#: A worker that says nothing of its hardware is taken for this much (the scheduler needs a figure).
DEFAULT_CPU_CORES = 1
DEFAULT_MEMORY_MB = 1024
#: Longest error text kept from a result (the rest is cut, the task's log has the detail).
MAX_ERROR_CHARS = 16 * 1024

_ACTIONS = {
    pb.TASK_ACTION_PAUSE: "pause",
    pb.TASK_ACTION_RESUME: "resume",
    pb.TASK_ACTION_STOP: "stop",
    pb.TASK_ACTION_CANCEL: "cancel",
}
#: task_result's status -> the state it ends the attempt in.
RESULT_STATES = {
    "completed": task_pb2.TASK_STATE_COMPLETED,
    "success": task_pb2.TASK_STATE_COMPLETED,
    "succeeded": task_pb2.TASK_STATE_COMPLETED,
    "failed": task_pb2.TASK_STATE_FAILED,
    "error": task_pb2.TASK_STATE_FAILED,
    "cancelled": task_pb2.TASK_STATE_CANCELLED,
    "canceled": task_pb2.TASK_STATE_CANCELLED,
    "stopped": task_pb2.TASK_STATE_CANCELLED,
}
_KINDS = {"training": "training", "script": "script", "command": "command"}


class BadMessage(ValueError):
    """A frame the door cannot take; its text is said to the worker."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def now_iso() -> str:
    """The document's timestamp form: "2024-11-04T12:00:00Z"."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def parse_frame(text: str) -> dict[str, Any]:
    """A text frame as a JSON object; BadMessage("UNSUPPORTED_DATA") for anything else (close 1003)."""
    try:
        value = json.loads(text)
    except ValueError:
        raise BadMessage("UNSUPPORTED_DATA", "frames must be JSON objects; this one is not JSON") from None
    if not isinstance(value, dict):
        raise BadMessage("UNSUPPORTED_DATA", "frames must be JSON objects")
    return value


def error_message(code: str, message: str, **extra: Any) -> dict[str, Any]:
    """The door's error frame, with the document's error object (and `status`, which the original
    client checks in an answer to init_distributed)."""
    return {"type": "error", "status": "error", "error": {"code": code, "message": message, "details": extra},
            **extra, "timestamp": now_iso()}  # fmt: skip


# ---- what the worker says about itself -------------------------------------------------------------


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)


def _mib(value: Any) -> int:
    """A memory figure in MiB; byte counts (the original's psutil totals) are recognised by size."""
    number = _number(value)
    if number is None or number <= 0:
        return 0
    return int(number / 2**20) if number > 2**24 else int(number)


def _gpus(info: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    gpus = info.get("gpu") if "gpu" in info else info.get("gpus")
    if isinstance(gpus, Mapping):
        gpus = [gpus]
    return [g for g in gpus if isinstance(g, Mapping)] if isinstance(gpus, list) else []


def capabilities(info: Mapping[str, Any] | None) -> node_pb2.Capabilities:
    """Hardware from the worker's system information (the original's first frame, or a heartbeat's
    system_info); what it leaves out is DEFAULT_CPU_CORES and DEFAULT_MEMORY_MB."""
    info = info or {}
    cpu = info.get("cpu") if isinstance(info.get("cpu"), Mapping) else {}
    ram = info.get("ram") if isinstance(info.get("ram"), Mapping) else {}
    cores = next((int(n) for n in (_number(cpu.get("cores_logical")), _number(cpu.get("cores")),
                                   _number(info.get("cpu_cores")), _number(info.get("cpu_count"))) if n), 0)  # fmt: skip
    memory = _mib(ram.get("total")) or _mib(info.get("ram_total")) or _mib(info.get("memory_total"))
    platform = info.get("platform")
    caps = node_pb2.Capabilities(
        cpu_cores=cores or DEFAULT_CPU_CORES, memory_mb=memory or DEFAULT_MEMORY_MB,
        os=str(platform.get("system", "")) if isinstance(platform, Mapping) else str(platform or ""),
        platform=str(platform.get("machine", "")) if isinstance(platform, Mapping) else "",
    )  # fmt: skip
    for i, gpu in enumerate(_gpus(info)):
        memory_info = gpu.get("memory") if isinstance(gpu.get("memory"), Mapping) else {}
        index = _number(gpu.get("id", gpu.get("index")))
        caps.gpus.append(node_pb2.Gpu(index=int(index) if index is not None else i, name=str(gpu.get("name", "")),
                                      uuid=str(gpu.get("uuid", "")),
                                      memory_mb=_mib(memory_info.get("total", gpu.get("memory_total")))))  # fmt: skip
    return caps


def usage(info: Mapping[str, Any] | None, caps: node_pb2.Capabilities) -> node_pb2.NodeUsage:
    """Usage figures of a heartbeat's system_info: the document's cpu_usage/ram_usage/gpu_usage (percent),
    or the original's cpu.usage_percent, ram.percent/used and each gpu's load and memory."""
    info = info or {}
    cpu = info.get("cpu") if isinstance(info.get("cpu"), Mapping) else {}
    ram = info.get("ram") if isinstance(info.get("ram"), Mapping) else {}
    out = node_pb2.NodeUsage(
        cpu_percent=_number(info.get("cpu_usage")) or _number(cpu.get("usage_percent")) or 0.0,
        memory_percent=_number(info.get("ram_usage")) or _number(ram.get("percent")) or 0.0,
        memory_used_mb=_mib(ram.get("used")),
    )
    if not out.memory_used_mb and out.memory_percent and caps.memory_mb:
        out.memory_used_mb = int(caps.memory_mb * out.memory_percent / 100)
    gpus = _gpus(info)
    if gpus:
        for i, gpu in enumerate(gpus):
            memory_info = gpu.get("memory") if isinstance(gpu.get("memory"), Mapping) else {}
            load = _number(gpu.get("load"))  # GPUtil: a fraction
            index = _number(gpu.get("id", gpu.get("index")))
            out.gpus.append(node_pb2.GpuUsage(
                index=int(index) if index is not None else i,
                utilization_percent=(load * 100 if load is not None and load <= 1 else load or 0.0),
                memory_used_mb=_mib(memory_info.get("used")), temperature_c=_number(gpu.get("temperature")) or 0.0,
            ))  # fmt: skip
    elif (gpu_usage := _number(info.get("gpu_usage"))) is not None:
        # The document gives one figure for the node: every GPU it has shows it.
        for gpu in caps.gpus or [node_pb2.Gpu(index=0)]:
            out.gpus.append(node_pb2.GpuUsage(index=gpu.index, utilization_percent=gpu_usage))
    return out


def hostname(info: Mapping[str, Any] | None, fallback: str) -> str:
    name = (info or {}).get("hostname")
    return str(name)[:253] if isinstance(name, str) and name else fallback


# ---- controller -> worker ---------------------------------------------------------------------------


def _kind(task: task_pb2.Task) -> str:
    return _KINDS.get(task.WhichOneof("spec") or "", "script")


def requirements(task: task_pb2.Task) -> dict[str, Any]:
    r = task.resources
    return {"min_gpu_memory": r.gpu_memory_mb, "min_cpu_cores": r.cpu_cores, "min_ram": r.memory_mb, "gpus": r.gpus}


def task_config(task: task_pb2.Task, rendezvous_fields: Mapping[str, Any]) -> dict[str, Any]:
    """The task's `config`: the document's keys (the original client reads name, batch_size,
    learning_rate and epochs without defaults, so they are always there), the task's own spec
    under its kind, and the model's url/version when the training starts from a model_url."""
    spec_name = task.WhichOneof("spec")
    spec = getattr(task, spec_name) if spec_name else None
    training = task.training if spec_name == "training" else task_pb2.TrainingSpec()
    config: dict[str, Any] = {
        "name": task.display_name or training.architecture or task.name.removeprefix("tasks/"),
        "batch_size": training.batch_size or 32,
        "learning_rate": training.learning_rate or 0.001,
        "epochs": training.epochs or 1,
        "distributed": rendezvous_fields["world_size"] > 1,
        "rank": rendezvous_fields["rank"],
        "world_size": rendezvous_fields["world_size"],
        "n_clients": rendezvous_fields["world_size"],  # the original's name for it
        "data_config": {},
        "checkpoint_freq": 1,
        "requirements": requirements(task),
    }
    if training.model_url:  # the original fetches config.url with config.version as its Version header
        config["url"], config["version"] = training.model_url, training.model_version
    if spec is not None:
        config[spec_name] = json_format.MessageToDict(spec, preserving_proto_field_name=True)
    return config


def task_message(assignment: pb.Assignment, rendezvous_fields: Mapping[str, Any]) -> dict[str, Any]:
    """The document's `task` message for one assignment (config and requirements as objects; the
    original client takes objects or JSON strings)."""
    task = assignment.task
    task_id = task.name.removeprefix("tasks/")
    return {
        "type": "task",
        "data": {
            "id": task_id, "type": _kind(task), "attempt": assignment.attempt,
            "config": task_config(task, rendezvous_fields), "requirements": requirements(task),
        },
        "task_id": task_id,
        "timestamp": now_iso(),
    }  # fmt: skip


def control_message(control: pb.TaskControl) -> dict[str, Any]:
    return {"type": "control", "action": _ACTIONS.get(control.action, "stop"), "task_id": control.task_id,
            "attempt": control.attempt, "timestamp": now_iso()}  # fmt: skip


#: The port a worker on another machine hosts a gang's rank 0 on: torch's own MASTER_PORT default,
#: since the door cannot reserve a port on a machine it does not run on.
REMOTE_MASTER_PORT = 29500


def free_port() -> int:
    """A port free here now (for a worker on this machine it is as good as one the worker picked)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rendezvous_offer(peer: str) -> tuple[str, int]:
    """Where a worker would host a gang's rank 0, for its Hello: its own address, and a port free on
    this machine when it runs here (loopback), else REMOTE_MASTER_PORT."""
    try:
        address = ipaddress.ip_address(peer or "127.0.0.1")
    except ValueError:  # not an address (a unix socket's peer): the worker is on this machine
        address = ipaddress.ip_address("127.0.0.1")
    mapped = getattr(address, "ipv4_mapped", None) or address
    return (str(mapped), free_port() if mapped.is_loopback else REMOTE_MASTER_PORT)


def rendezvous(assignment: pb.Assignment | None) -> dict[str, Any]:
    """The answer to init_distributed: master_addr, master_port, world_size, rank, shard_info.

    THE one place that maps an assignment to a rendezvous: a gang's rank gets the master the
    controller handed out; a single rank is a world of one with its master on the worker's own
    loopback at a free port (rank 0 binds it, so loopback works wherever the worker runs).
    """
    if assignment is not None and assignment.world_size > 1:
        master, port, world, rank = assignment.master_addr, assignment.master_port, assignment.world_size, assignment.rank
    else:
        master, port, world, rank = "127.0.0.1", free_port(), 1, 0
    return {
        "master_addr": master, "master_port": port, "world_size": world, "rank": rank,
        "shard_info": {"id": rank, "total_shards": world, "start_point": 0, "end_point": 100},
    }  # fmt: skip


def distributed_init_message(task_id: str, fields: Mapping[str, Any]) -> dict[str, Any]:
    """init_distributed's answer: its fields at the top (the original reads `data` or the frame itself)."""
    return {"type": "distributed_init", "status": "ok", "task_id": task_id, **fields, "data": dict(fields),
            "timestamp": now_iso()}  # fmt: skip


# ---- worker -> controller ---------------------------------------------------------------------------


def flat_metrics(metrics: Any, prefix: str = "") -> dict[str, float]:
    """Numeric metrics, nested objects flattened with dots (the original nests `resources`)."""
    out: dict[str, float] = {}
    if not isinstance(metrics, Mapping):
        return out
    for key, value in metrics.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out |= flat_metrics(value, f"{name}.")
        elif (number := _number(value)) is not None:
            out[name] = number
    return out


def progress_fraction(value: Any) -> float | None:
    """The document's progress is a percentage (45.5); the core's is a fraction."""
    number = _number(value)
    return None if number is None else min(max(number / 100.0, 0.0), 1.0)


def task_id_of(message: Mapping[str, Any]) -> str:
    task_id = message.get("task_id")
    data = message.get("data")
    if not task_id and isinstance(data, Mapping):
        task_id = data.get("task_id") or data.get("id")
    if not isinstance(task_id, str) or not task_id:
        raise BadMessage("INVALID_REQUEST", f"{message.get('type')} needs a task_id")
    return task_id.removeprefix("tasks/")


def progress_update(message: Mapping[str, Any], attempt: int) -> pb.TaskUpdate:
    metrics = flat_metrics(message.get("metrics"))
    update = pb.TaskUpdate(task_id=task_id_of(message), attempt=attempt)
    fraction = progress_fraction(message.get("progress", metrics.get("progress")))
    if fraction is not None:
        update.progress = fraction
    if metrics:
        epoch = _number(metrics.get("epoch"))
        update.metric.CopyFrom(task_pb2.MetricPoint(attempt=attempt, epoch=int(epoch or 0), values=metrics))
    return update


def result_update(message: Mapping[str, Any], attempt: int) -> pb.TaskUpdate:
    """task_result as the attempt's terminal update: status, final metrics, error."""
    status = str(message.get("status") or "completed").lower()
    state = RESULT_STATES.get(status)
    if state is None:
        raise BadMessage("INVALID_REQUEST", f"task_result status {status!r} is not one of {', '.join(sorted(RESULT_STATES))}")
    update = progress_update(message, attempt)
    update.state = state
    error = message.get("error") or message.get("error_log") or ""
    update.result.CopyFrom(task_pb2.TaskResult(
        exit_code=0 if state == task_pb2.TASK_STATE_COMPLETED else 1, error=str(error)[:MAX_ERROR_CHARS],
    ))  # fmt: skip
    if state == task_pb2.TASK_STATE_COMPLETED:
        update.progress = 1.0
    update.reason = f"{status} (reported by the WebSocket worker)" if not error else str(error)[:500]
    return update


def result_log_lines(message: Mapping[str, Any]) -> list[str]:
    """What a result says that the task has no field for: its checkpoint path and shard, as log lines."""
    lines = []
    if message.get("checkpoint_path"):
        lines.append(f"checkpoint: {message['checkpoint_path']}")
    if message.get("model_path"):
        lines.append(f"model: {message['model_path']}")
    if isinstance(message.get("shard_info"), Mapping):
        lines.append(f"shard: {json.dumps(message['shard_info'], sort_keys=True)}")
    if message.get("error_log") and message.get("error") and message["error_log"] != message["error"]:
        lines.extend(str(message["error_log"]).splitlines()[:200])
    return lines

"""AI Farm's task shapes <-> core tasks: an AI Farm task is a core task; what only the
document has (the model's name, url and version) rides in the task's compat_metadata."""

from __future__ import annotations

from typing import Any

from google.protobuf import struct_pb2

from aifarm.compat.aifarm.v1 import tasks_service_pb2 as pb
from aifarm.v1 import node_pb2, task_pb2
from controller.api.compat.json_values import fill_struct
from controller.api.compat.servermgmt.shapes import iso
from controller.domain.errors import InvalidArgument
from controller.domain.task_actions import MAX_WORLD_SIZE
from controller.domain.types import Resources, Task, TaskState
from taskspec.training import ARCHITECTURES, MODEL_PREFIX, TrainingSpec, registry_model

#: Core states as the document names them (a task placed but not yet started is running).
STATUS = {
    TaskState.PENDING: "pending",
    TaskState.ASSIGNED: "running",
    TaskState.RUNNING: "running",
    TaskState.PAUSED: "paused",
    TaskState.COMPLETED: "completed",
    TaskState.FAILED: "failed",
    TaskState.CANCELLED: "cancelled",
}
#: compat_metadata keys of what a task was created with.
NAME, URL, VERSION = "aifarm_name", "aifarm_url", "aifarm_version"
#: Settings of `config` a training takes, with their types (the rest is refused by name).
_CONFIG = {"architecture": str, "optimizer": str, "loss_function": str, "device": str, "seed": int,
           "validation_split": float, "samples": int, "features": int, "classes": int}  # fmt: skip
DEFAULT_EPOCHS = 1
#: Retries of a distributed task: one rank's death fails the whole gang, so a gang gets a few
#: new attempts by default where a single-rank task gets none (the core default).
GANG_RETRIES = 2


def _config_value(config: dict[str, Any], key: str) -> Any:
    value = config[key]
    want = _CONFIG[key]
    if want is int and isinstance(value, float) and value.is_integer():
        return int(value)  # JSON numbers arrive as floats through Struct
    if want is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if not isinstance(value, want) or isinstance(value, bool):
        raise InvalidArgument(f"config.{key} must be a {want.__name__}, not {value!r}", reason="INVALID_TASK")
    return value


def base_model(url: str) -> str | None:
    """The aifarm registry model a task's url names ("/v1/models/NAME", "models/NAME" or NAME), or
    None for no url or an http(s)/file URL (the agent fetches that one: TrainingSpec.model_url)."""
    if not url or "://" in url:
        return None
    name = next((url.removeprefix(p) for p in ("/v1/" + MODEL_PREFIX, MODEL_PREFIX) if url.startswith(p)), url)
    if registry_model(MODEL_PREFIX + name.rstrip("/")) is None:
        raise InvalidArgument(f"url {url!r} names no model: give /v1/models/NAME, a model's name or an"
                              " http(s):// or file:// URL", reason="INVALID_TASK")  # fmt: skip
    return name.rstrip("/")


def training_spec(request: pb.CreateTaskRequest) -> task_pb2.TrainingSpec:
    """The core spec of a create request (ranges are checked where every task's are)."""
    config = dict(request.config.items()) if request.HasField("config") else {}
    unknown = sorted(set(config) - set(_CONFIG))
    if unknown:
        raise InvalidArgument(f"unknown config setting(s) {unknown}; known: {sorted(_CONFIG)}", reason="INVALID_TASK")
    given = {key: _config_value(config, key) for key in config}
    # A built-in architecture's name is trained as that architecture; any other name is the model's label.
    architecture = given.get("architecture") or (request.name if request.name in ARCHITECTURES else "mlp")
    base = base_model(request.url)
    if base is not None:
        if "architecture" in given:
            raise InvalidArgument(f"url names the model to start from ({request.url!r}); config.architecture"
                                  " cannot name another", reason="INVALID_TASK")  # fmt: skip
        architecture = MODEL_PREFIX + base
    fetched = request.url if "://" in request.url else ""
    synthetic = task_pb2.SyntheticDataset(samples=given.get("samples", 512), features=given.get("features", 16),
                                          classes=given.get("classes", 4))  # fmt: skip
    return task_pb2.TrainingSpec(
        architecture=architecture, synthetic=synthetic, epochs=request.epochs or DEFAULT_EPOCHS,
        batch_size=request.batch_size, learning_rate=request.learning_rate, optimizer=given.get("optimizer", ""),
        loss_function=given.get("loss_function", ""), validation_split=given.get("validation_split", 0.0),
        seed=given.get("seed", 0), device=given.get("device", ""),
        model_url=fetched, model_version=request.version if fetched else "",
    )  # fmt: skip


def new_task(request: pb.CreateTaskRequest) -> task_pb2.Task:
    if request.type not in ("", "training"):
        raise InvalidArgument(f"type {request.type!r} is not served: AI Farm tasks are of type 'training'",
                              reason="INVALID_TASK")  # fmt: skip
    ranks = world_size(request)
    r = request.requirements
    for name in ("min_gpu_memory", "min_cpu_cores", "min_ram"):
        if getattr(r, name) < 0:
            raise InvalidArgument(f"requirements.{name} must not be negative", reason="INVALID_TASK")
    return task_pb2.Task(display_name=request.name, training=training_spec(request), resources=_resources(r),
                         world_size=ranks, max_retries=GANG_RETRIES if ranks > 1 else 0)  # fmt: skip


def world_size(request: pb.CreateTaskRequest) -> int:
    """The ranks of the task: `n_clients` of a distributed one (unset: 1), else 1."""
    if request.n_clients < 0:
        raise InvalidArgument(f"n_clients must be at least 1, not {request.n_clients}", reason="INVALID_TASK")
    if not request.distributed:
        if request.n_clients > 1:
            raise InvalidArgument(f"n_clients {request.n_clients} needs distributed: true (a task that is not "
                                  "distributed runs on one client)", reason="INVALID_TASK")  # fmt: skip
        return 1
    if request.n_clients > MAX_WORLD_SIZE:
        raise InvalidArgument(f"n_clients must be at most {MAX_WORLD_SIZE}, not {request.n_clients}",
                              reason="INVALID_TASK")  # fmt: skip
    return request.n_clients or 1


def _resources(r: pb.Requirements) -> node_pb2.Resources:
    return node_pb2.Resources(gpus=1 if r.min_gpu_memory > 0 else 0, gpu_memory_mb=r.min_gpu_memory,
                              cpu_cores=float(r.min_cpu_cores), memory_mb=r.min_ram)  # fmt: skip


def compat_metadata(request: pb.CreateTaskRequest) -> dict[str, str]:
    return {NAME: request.name, URL: request.url, VERSION: request.version}


def requirements(r: Resources) -> pb.Requirements:
    return pb.Requirements(min_gpu_memory=r.gpu_memory_mb, min_cpu_cores=round(r.cpu_cores), min_ram=r.memory_mb)


def config(task: Task) -> struct_pb2.Struct:
    """What the task runs: a training's settings, or a script's or command's kind."""
    items: dict[str, Any] = {"name": task.compat_metadata.get(NAME, task.display_name),
                             "distributed": task.world_size > 1, "n_clients": task.world_size}  # fmt: skip
    for key in (URL, VERSION):
        if value := task.compat_metadata.get(key):
            items[key.removeprefix("aifarm_")] = value
    if isinstance(task.spec, TrainingSpec):
        c = task.spec.config
        items |= {"architecture": c.architecture.removeprefix(MODEL_PREFIX), "batch_size": c.batch_size,
                  "learning_rate": c.learning_rate, "epochs": c.epochs, "optimizer": c.optimizer,
                  "loss_function": c.loss_function}  # fmt: skip
    return fill_struct(struct_pb2.Struct(), items)


def fill_summary(msg: pb.TaskSummary, task: Task) -> pb.TaskSummary:
    msg.id = task.id
    msg.type = task.kind
    msg.status = STATUS[task.state]
    msg.progress = task.progress * 100.0
    msg.created_at = iso(task.create_time)
    msg.updated_at = iso(task.update_time or task.create_time)
    return msg


def detail(task: Task) -> pb.TaskDetail:
    return pb.TaskDetail(
        id=task.id, type=task.kind, status=STATUS[task.state], progress=task.progress * 100.0,
        metrics=dict(task.metrics), config=config(task), requirements=requirements(task.resources),
        created_at=iso(task.create_time), updated_at=iso(task.update_time or task.create_time),
    )  # fmt: skip

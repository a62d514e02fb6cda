"""gswarm's queue shapes <-> core tasks."""

from __future__ import annotations

import datetime

from aifarm.compat.gswarm.v1 import host_queue_service_pb2 as pb
from controller.domain.errors import InvalidArgument
from controller.domain.types import Priority, Task, TaskState
from taskspec.model_operation import ModelOperationSpec, Operation
from taskspec.serving import ServingSpec
from taskspec.training import TrainingSpec, registry_model

STATUS = {
    TaskState.PENDING: "pending", TaskState.ASSIGNED: "running", TaskState.RUNNING: "running",
    TaskState.PAUSED: "paused", TaskState.COMPLETED: "completed", TaskState.FAILED: "failed",
    TaskState.CANCELLED: "cancelled",
}  # fmt: skip
#: The states of each status a request may filter by.
STATES_OF = {name: tuple(s for s, n in STATUS.items() if n == name) for name in set(STATUS.values())}
ENDED = ("completed", "failed", "cancelled")
PRIORITY_LEVELS = [p.name.lower() for p in sorted(Priority, reverse=True)]


def states(status: str, allowed: tuple[str, ...] | None = None) -> tuple[TaskState, ...]:
    """The core states of a gswarm status ("" for all of `allowed`); InvalidArgument for another word."""
    names = allowed or tuple(sorted(STATES_OF))
    if not status:
        return tuple(s for name in names for s in STATES_OF[name])
    if status not in names:
        raise InvalidArgument(f"status {status!r} is not one of {', '.join(names)}")
    return STATES_OF[status]


def since(value: str) -> float:
    """Unix seconds from "1704067200" or an ISO 8601 time ("2024-01-01T00:00:00Z"); 0 for ""."""
    if not value:
        return 0.0
    try:
        return float(value)
    except ValueError:
        pass
    try:
        moment = datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidArgument(f"since {value!r} is neither Unix seconds nor an ISO 8601 time") from None
    return (moment if moment.tzinfo else moment.replace(tzinfo=datetime.timezone.utc)).timestamp()


#: gswarm's codes a failed task's error may start with ("CODE: ..."; agent.models.errors writes them).
ERROR_CODES = ("TASK_FAILED", "DEPENDENCY_FAILED", "RESOURCE_UNAVAILABLE", "NETWORK_ERROR", "MODEL_NOT_FOUND",
               "INVALID_REQUEST", "CONFLICT")  # fmt: skip


def error_code(task: Task) -> str:
    """gswarm's code for why a task failed ("" unless it did); the controller ends a task whose
    dependency failed with "dependency ID failed" (controller.domain.task_placement)."""
    if task.state is not TaskState.FAILED:
        return ""
    error = task.result.error
    if error.startswith("dependency "):
        return "DEPENDENCY_FAILED"
    code = error.partition(": ")[0]
    return code if code in ERROR_CODES else "TASK_FAILED"


def task_type(task: Task) -> str:
    return task.spec.operation.value if isinstance(task.spec, ModelOperationSpec) else task.kind


def _devices(task: Task) -> list[str]:
    spec = task.spec
    if isinstance(spec, ServingSpec):
        return [f"{task.resources.node}:{spec.device}"]
    if isinstance(spec, ModelOperationSpec):
        node = task.resources.node
        used = [f"{node}:{spec.target_device}"] if spec.target_device else [f"{node}:{spec.source_device or 'disk'}"]
        if spec.operation is Operation.MOVE:
            used.insert(0, f"{node}:{spec.source_device}")
        if spec.operation is Operation.COPY:
            used.insert(0, spec.source_device)
        return used
    return [device for node, gpus in task.placements()
            for device in ([f"{node}:gpu{i}" for i in gpus] or [f"{node}:cpu"])]  # fmt: skip


def _models(task: Task) -> list[str]:
    if isinstance(task.spec, (ModelOperationSpec, ServingSpec)):
        return [task.spec.model]
    used = []
    if isinstance(task.spec, TrainingSpec) and (base := registry_model(task.spec.config.architecture)):
        used.append(base)
    if task.output_model:
        used.append(task.output_model)
    return used


def queue_task(task: Task) -> pb.QueueTask:
    return pb.QueueTask(
        task_id=task.id, task_type=task_type(task), priority=task.priority.name.lower(), status=STATUS[task.state],
        dependencies=list(task.depends_on), resources=pb.QueueTaskResources(devices=_devices(task), models=_models(task)),
        created_at=task.create_time, started_at=task.start_time, completed_at=task.end_time,
        progress=task.progress * 100.0, error=task.result.error if task.state is TaskState.FAILED else "",
        error_code=error_code(task),
    )  # fmt: skip

"""gswarm's queue shapes <-> core tasks."""

from __future__ import annotations

import datetime

from aifarm.compat.gswarm.v1 import host_queue_service_pb2 as pb
from controller.domain.errors import InvalidArgument
from controller.domain.types import Priority, Task, TaskState
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


def _models(task: Task) -> list[str]:
    used = []
    if isinstance(task.spec, TrainingSpec) and (base := registry_model(task.spec.config.architecture)):
        used.append(base)
    if task.output_model:
        used.append(task.output_model)
    return used


def queue_task(task: Task) -> pb.QueueTask:
    devices = [device for node, gpus in task.placements()
               for device in ([f"{node}:gpu{i}" for i in gpus] or [f"{node}:cpu"])]  # fmt: skip
    return pb.QueueTask(
        task_id=task.id, task_type=task.kind, priority=task.priority.name.lower(), status=STATUS[task.state],
        dependencies=list(task.depends_on), resources=pb.QueueTaskResources(devices=devices, models=_models(task)),
        created_at=task.create_time, started_at=task.start_time, completed_at=task.end_time,
        progress=task.progress * 100.0, error=task.result.error if task.state is TaskState.FAILED else "",
    )  # fmt: skip

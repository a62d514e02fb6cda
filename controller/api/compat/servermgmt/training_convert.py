"""Training tasks <-> the Server Management session shapes."""

from __future__ import annotations

from collections.abc import Sequence

from aifarm.compat.servermgmt.v1 import training_pb2
from aifarm.compat.servermgmt.v1 import training_service_pb2 as pb
from aifarm.v1 import task_pb2
from controller.api.compat.json_values import set_value
from controller.api.compat.servermgmt.shapes import iso
from controller.domain.errors import InvalidArgument
from controller.domain.types import LogLine, MetricPoint, Task, TaskState
from taskspec.training import MODEL_PREFIX, TrainingConfig, TrainingSpec

#: Task states as the document names them.
STATES = {
    TaskState.PENDING: "queued",
    TaskState.ASSIGNED: "running",
    TaskState.RUNNING: "running",
    TaskState.PAUSED: "running",
    TaskState.COMPLETED: "completed",
    TaskState.FAILED: "failed",
    TaskState.CANCELLED: "stopped",
}
_LEVELS = {"stderr": "WARNING"}


#: Required numbers of a start request and their documented ranges (0 is "absent" in proto3).
_REQUIRED = {"learning_rate": "0.0001 to 1.0", "batch_size": "1 to 256", "epochs": "1 to 1000"}


def training_spec(request: pb.StartTrainingRequest) -> task_pb2.TrainingSpec:
    """The core TrainingSpec of a start request; the ranges are checked where every task's are,
    but the document requires what the core API defaults, so those must be present here."""
    for name in ("model_architecture", "dataset_name"):
        if not getattr(request, name):
            raise InvalidArgument(f"{name} is required", reason="INVALID_TRAINING_SPEC")
    for name, allowed in _REQUIRED.items():
        if getattr(request, name) == 0:
            raise InvalidArgument(f"{name} is required ({allowed})", reason="INVALID_TRAINING_SPEC")
    return task_pb2.TrainingSpec(
        architecture=request.model_architecture,
        dataset=f"datasets/{request.dataset_name}",
        epochs=request.epochs,
        batch_size=request.batch_size,
        learning_rate=request.learning_rate,
        optimizer=request.optimizer or "adam",
        loss_function=request.loss_function or "cross_entropy",
    )


def spec_of(task: Task) -> TrainingSpec:
    if not isinstance(task.spec, TrainingSpec):
        return TrainingSpec(TrainingConfig(architecture="", epochs=0))
    return task.spec


def config(task: Task) -> training_pb2.TrainingConfig:
    return fill_config(training_pb2.TrainingConfig(), task)


def fill_config(msg: training_pb2.TrainingConfig, task: Task) -> training_pb2.TrainingConfig:
    """Set a session's config on ``msg`` in place (a list fills one per session, without copies)."""
    spec = spec_of(task)
    c = spec.config
    msg.model_architecture = c.architecture.removeprefix(MODEL_PREFIX)
    msg.dataset_name = spec.dataset
    msg.learning_rate = c.learning_rate
    msg.batch_size = c.batch_size
    msg.epochs = c.epochs
    msg.optimizer = c.optimizer
    msg.loss_function = c.loss_function
    return msg


def current_points(task: Task, points: Sequence[MetricPoint]) -> list[MetricPoint]:
    """The metric points of the task's current attempt, by epoch."""
    return sorted((p for p in points if p.attempt == task.attempt), key=lambda p: p.epoch)


def last_epoch(task: Task, points: Sequence[MetricPoint]) -> int | None:
    """The last epoch of the current attempt with a metric point (None before the first)."""
    current = current_points(task, points)
    return current[-1].epoch if current else None


def status(task: Task, current_epoch: int | None) -> training_pb2.TrainingStatus:
    return fill_status(training_pb2.TrainingStatus(), task, current_epoch)


def fill_status(msg: training_pb2.TrainingStatus, task: Task, current_epoch: int | None) -> training_pb2.TrainingStatus:
    """Set a session's status on ``msg`` in place."""
    failed = task.state is TaskState.FAILED
    msg.session_id = task.id
    msg.state = STATES[task.state]
    set_value(msg.current_epoch, current_epoch)
    msg.total_epochs = spec_of(task).config.epochs
    set_value(msg.start_time, iso(task.start_time) if task.start_time else None)
    set_value(msg.end_time, iso(task.end_time) if task.state.terminal and task.end_time else None)
    set_value(msg.error_message, (task.result.error or task.state_reason) if failed else None)
    return msg


def session(task: Task, current_epoch: int | None) -> training_pb2.TrainingSession:
    msg = training_pb2.TrainingSession(session_id=task.id, created_at=iso(task.create_time))
    msg.config.SetInParent()  # present (printed) even when every value is a zero
    fill_config(msg.config, task)
    fill_status(msg.status, task, current_epoch)
    return msg


def metrics(task_id: str, point: MetricPoint) -> training_pb2.TrainingMetrics:
    v = point.values
    return training_pb2.TrainingMetrics(
        session_id=task_id,
        epoch=point.epoch,
        loss=v.get("loss", 0.0),
        accuracy=v.get("accuracy", 0.0),
        val_loss=v.get("val_loss", 0.0),
        val_accuracy=v.get("val_accuracy", 0.0),
        timestamp=iso(point.time),
    )


def log_entry(task_id: str, line: LogLine) -> training_pb2.TrainingLogEntry:
    return training_pb2.TrainingLogEntry(
        session_id=task_id, timestamp=iso(line.time), level=_LEVELS.get(line.stream, "INFO"), message=line.text
    )

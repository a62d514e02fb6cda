"""Task domain <-> aifarm.v1 messages, in one place."""

from __future__ import annotations

from aifarm.v1 import agent_service_pb2, node_pb2, task_pb2
from controller.api.convert_common import seconds, timestamp
from controller.domain.errors import InvalidArgument
from controller.domain.types import (
    Artifact,
    LogLine,
    MetricPoint,
    Priority,
    Resources,
    Task,
    TaskRank,
    TaskResult,
    TaskSpec,
    TaskState,
    TaskUpdate,
)
from taskspec.command import CommandSpec
from taskspec.proto import (
    command_from_proto,
    command_to_proto,
    model_operation_from_proto,
    model_operation_to_proto,
    serving_from_proto,
    serving_to_proto,
    script_from_proto,
    script_to_proto,
    training_from_proto,
    training_to_proto,
)
from taskspec.errors import SpecError
from taskspec.model_operation import ModelOperationSpec
from taskspec.script import ScriptSpec
from taskspec.serving import ServingSpec

STATE_TO_PROTO = {
    TaskState.PENDING: task_pb2.TASK_STATE_PENDING,
    TaskState.ASSIGNED: task_pb2.TASK_STATE_ASSIGNED,
    TaskState.RUNNING: task_pb2.TASK_STATE_RUNNING,
    TaskState.PAUSED: task_pb2.TASK_STATE_PAUSED,
    TaskState.COMPLETED: task_pb2.TASK_STATE_COMPLETED,
    TaskState.FAILED: task_pb2.TASK_STATE_FAILED,
    TaskState.CANCELLED: task_pb2.TASK_STATE_CANCELLED,
}
STATE_FROM_PROTO = {v: k for k, v in STATE_TO_PROTO.items()}

PRIORITY_FROM_PROTO = {
    task_pb2.TASK_PRIORITY_UNSPECIFIED: Priority.NORMAL,
    task_pb2.TASK_PRIORITY_LOW: Priority.LOW,
    task_pb2.TASK_PRIORITY_NORMAL: Priority.NORMAL,
    task_pb2.TASK_PRIORITY_HIGH: Priority.HIGH,
    task_pb2.TASK_PRIORITY_CRITICAL: Priority.CRITICAL,
}
PRIORITY_TO_PROTO = {p: task_pb2.TaskPriority.Value(f"TASK_PRIORITY_{p.name}") for p in Priority}

STREAMS = {
    "stdout": task_pb2.LOG_STREAM_STDOUT,
    "stderr": task_pb2.LOG_STREAM_STDERR,
    "system": task_pb2.LOG_STREAM_SYSTEM,
}
STREAM_NAMES = {v: k for k, v in STREAMS.items()}


def state_from_proto(value: int) -> TaskState:
    try:
        return STATE_FROM_PROTO[value]
    except KeyError:
        raise InvalidArgument(f"unknown task state {value}") from None


def resources_to_proto(r: Resources) -> node_pb2.Resources:
    return node_pb2.Resources(gpus=r.gpus, gpu_memory_mb=r.gpu_memory_mb, cpu_cores=r.cpu_cores, memory_mb=r.memory_mb,
                              node=r.node, locks=r.locks)  # fmt: skip


def spec_from_proto(msg: task_pb2.Task) -> TaskSpec:
    kind = msg.WhichOneof("spec")
    if kind == "script":
        return script_from_proto(msg.script)
    if kind == "training":
        return training_from_proto(msg.training)
    if kind == "command":
        return command_from_proto(msg.command)
    if kind == "serving":
        return serving_from_proto(msg.serving)
    if kind == "model_operation":
        try:
            return model_operation_from_proto(msg.model_operation)
        except SpecError as exc:
            raise InvalidArgument(str(exc), reason="INVALID_MODEL_OPERATION") from None
    raise InvalidArgument("task needs a spec: set exactly one of 'script', 'training', 'command', 'model_operation' or 'serving'")


def task_from_proto(msg: task_pb2.Task, *, task_id: str, request_id: str) -> Task:
    """A new task from a CreateTask request; output-only fields are ignored (the domain validates the rest)."""
    if msg.priority not in PRIORITY_FROM_PROTO:
        raise InvalidArgument(f"unknown priority {msg.priority}")
    r = msg.resources
    return Task(
        id=task_id,
        request_id=request_id,
        display_name=msg.display_name,
        spec=spec_from_proto(msg),
        resources=Resources(r.gpus, r.gpu_memory_mb, round(r.cpu_cores, 3), r.memory_mb, r.node.removeprefix("nodes/"),
                            tuple(r.locks)),  # fmt: skip
        priority=PRIORITY_FROM_PROTO[msg.priority],
        depends_on=tuple(d.removeprefix("tasks/") for d in msg.depends_on),
        time_limit_seconds=msg.time_limit_seconds,
        max_retries=msg.max_retries,
        labels=dict(msg.labels),
        concurrency_group=msg.concurrency_group,
        output_model=msg.output_model,
        world_size=msg.world_size or 1,
    )


def task_to_proto(t: Task) -> task_pb2.Task:
    msg = task_pb2.Task(
        name=f"tasks/{t.id}",
        display_name=t.display_name,
        resources=resources_to_proto(t.resources),
        priority=PRIORITY_TO_PROTO[t.priority],
        depends_on=[f"tasks/{d}" for d in t.depends_on],
        time_limit_seconds=t.time_limit_seconds,
        max_retries=t.max_retries,
        labels=t.labels,
        concurrency_group=t.concurrency_group,
        output_model=t.output_model,
        world_size=t.world_size,
        state=STATE_TO_PROTO[t.state],
        state_reason=t.state_reason,
        attempt=t.attempt,
        node=f"nodes/{t.node_id}" if t.node_id else "",
        progress=t.progress,
        metrics=t.metrics,
        result=task_pb2.TaskResult(
            exit_code=t.result.exit_code, output_sha256=t.result.output_sha256, error=t.result.error
        ),
        artifacts=[artifact_to_proto(a) for a in t.artifacts],
        ranks=[rank_to_proto(r) for r in t.ranks],
        create_time=timestamp(t.create_time),
        start_time=timestamp(t.start_time),
        end_time=timestamp(t.end_time),
        update_time=timestamp(t.update_time),
    )
    # SetInParent: an all-default spec still says which kind it is.
    if isinstance(t.spec, ScriptSpec):
        msg.script.SetInParent()
        msg.script.MergeFrom(script_to_proto(t.spec))
    elif isinstance(t.spec, CommandSpec):
        msg.command.SetInParent()
        msg.command.MergeFrom(command_to_proto(t.spec))
    elif isinstance(t.spec, ModelOperationSpec):
        msg.model_operation.CopyFrom(model_operation_to_proto(t.spec))
    elif isinstance(t.spec, ServingSpec):
        msg.serving.CopyFrom(serving_to_proto(t.spec))
    else:
        msg.training.SetInParent()
        msg.training.MergeFrom(training_to_proto(t.spec))
    return msg


def rank_to_proto(r: TaskRank) -> task_pb2.TaskRank:
    return task_pb2.TaskRank(rank=r.rank, node=f"nodes/{r.node_id}", state=STATE_TO_PROTO[r.state],
                             progress=r.progress, metrics=r.metrics)  # fmt: skip


def artifact_to_proto(a: Artifact) -> task_pb2.Artifact:
    return task_pb2.Artifact(
        name=f"tasks/{a.task_id}/artifacts/{a.file_name}", size_bytes=a.size_bytes, sha256=a.sha256, attempt=a.attempt
    )


def log_line_to_proto(line: LogLine) -> task_pb2.LogLine:
    return task_pb2.LogLine(
        seq=line.seq, attempt=line.attempt, stream=STREAMS.get(line.stream, 0), text=line.text,
        time=timestamp(line.time),
    )  # fmt: skip


def log_line_from_proto(msg: task_pb2.LogLine, attempt: int) -> LogLine:
    return LogLine(
        attempt=attempt, line_no=msg.seq, stream=STREAM_NAMES.get(msg.stream, "stdout"), text=msg.text,
        time=seconds(msg.time),
    )  # fmt: skip


def metric_to_proto(p: MetricPoint) -> task_pb2.MetricPoint:
    return task_pb2.MetricPoint(attempt=p.attempt, epoch=p.epoch, values=p.values, time=timestamp(p.time))


def update_from_proto(msg: agent_service_pb2.TaskUpdate) -> TaskUpdate:
    state = None if msg.state == task_pb2.TASK_STATE_UNSPECIFIED else state_from_proto(msg.state)
    when = seconds(msg.time) if msg.HasField("time") else None
    update = TaskUpdate(task_id=msg.task_id, attempt=msg.attempt, state=state, reason=msg.reason)
    if when:
        update.time = when
    update.progress = msg.progress
    if msg.HasField("metric"):
        m = msg.metric
        update.metric = MetricPoint(msg.attempt, m.epoch, dict(m.values), seconds(m.time) or update.time)
    if msg.HasField("result"):
        update.result = TaskResult(msg.result.exit_code, msg.result.output_sha256, msg.result.error)
    return update

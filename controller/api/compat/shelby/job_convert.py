"""Script tasks <-> ShelbyCompute's job shapes (camelCase keys, Unix-second times, nulls)."""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Sequence
from typing import Any, TypeVar

from dataclasses import replace

from google.protobuf import json_format, struct_pb2

from aifarm.compat.shelby.v1 import job_pb2
from aifarm.compat.shelby.v1 import job_service_pb2 as pb
from controller.api.compat.json_values import fill_struct, set_value
from controller.domain.errors import FailedPrecondition, InvalidArgument
from controller.domain.types import AttemptRecord, LogLine, Task, TaskState
from taskspec.script import ScriptSpec

JobMessage = TypeVar("JobMessage", job_pb2.Job, job_pb2.JobDetail)

#: Task states as ShelbyCompute's document names job statuses: the one place they are mapped.
#: Its agents and frontend know pending, assigned and finished (plus failed), so a job running
#: or paused on its node is "assigned" and a cancelled one "failed".
STATUS = {
    TaskState.PENDING: "pending",
    TaskState.ASSIGNED: "assigned",
    TaskState.RUNNING: "assigned",
    TaskState.PAUSED: "assigned",
    TaskState.COMPLETED: "finished",
    TaskState.FAILED: "failed",
    TaskState.CANCELLED: "failed",
}
#: A status -> the core states it stands for: what a ?status= filter hands the store, so a
#: filtered page costs what any page does, and what the dashboard sums.
STATES_OF = {name: tuple(s for s, n in STATUS.items() if n == name) for name in dict.fromkeys(STATUS.values())}
DEFAULT_ENTRYPOINT = "train.py"
#: A week: runtimeMinutesEstimate bounds each run (0: no bound).
MAX_RUNTIME_MINUTES = 7 * 24 * 60
_ENTRYPOINT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}\.(py|sh)$")
#: Keys of the task's compat_metadata that hold what a job was created with.
DATASET_NAME, DATASET_URL, DATASET_HASH, META, RUNTIME = (
    "dataset_name", "dataset_url", "dataset_hash", "meta", "runtime_minutes_estimate",
)  # fmt: skip


def struct(items: dict[str, Any]) -> struct_pb2.Struct:
    return fill_struct(struct_pb2.Struct(), items)


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def new_task(request: pb.CreateJobRequest) -> Task:
    """The held script task of a new job: it is scheduled once its script is uploaded."""
    if not request.datasetName.strip():
        raise InvalidArgument("datasetName is required", reason="INVALID_JOB")
    minutes = request.runtimeMinutesEstimate
    if not 0 <= minutes <= MAX_RUNTIME_MINUTES:
        raise InvalidArgument(f"runtimeMinutesEstimate must be between 0 and {MAX_RUNTIME_MINUTES}", reason="INVALID_JOB")
    fields = {DATASET_NAME: request.datasetName, DATASET_URL: request.datasetUrl, DATASET_HASH: request.datasetHash,
              RUNTIME: repr(float(minutes))}  # fmt: skip
    if request.HasField("meta"):
        fields[META] = json.dumps(json_format.MessageToDict(request.meta))
    return Task(
        id=request.jobId,
        spec=ScriptSpec(source="", entrypoint=DEFAULT_ENTRYPOINT, env=job_env(request.jobId, fields)),
        display_name=request.datasetName,
        compat_metadata=fields,
        time_limit_seconds=math.ceil(minutes * 60),
        held=True,
        state_reason="waiting for its script (POST /api/jobs/upload-script)",
    )


def job_env(job_id: str, fields: dict[str, str]) -> dict[str, str]:
    """Variables a job's script runs with (JOB_ID is filled in once the id is known)."""
    env = {"DATASET_NAME": fields.get(DATASET_NAME, ""), "DATASET_URL": fields.get(DATASET_URL, ""),
           "DATASET_HASH": fields.get(DATASET_HASH, "")}  # fmt: skip
    if job_id:
        env["JOB_ID"] = job_id
    return env


def uploaded_spec(task: Task, request: pb.UploadScriptRequest) -> ScriptSpec:
    """The task's spec with the uploaded script, requirements and entry point."""
    if not request.script.strip():
        raise InvalidArgument("script is required", reason="INVALID_SCRIPT")
    if not isinstance(task.spec, ScriptSpec):
        raise FailedPrecondition(f"task {task.id!r} is a {task.kind} task, not a script job", reason="NOT_A_SCRIPT_JOB")
    entrypoint = request.entrypoint or DEFAULT_ENTRYPOINT
    if not _ENTRYPOINT.match(entrypoint) or ".." in entrypoint:
        raise InvalidArgument(
            f"entrypoint {entrypoint!r} must be a plain file name ending in .py or .sh", reason="INVALID_SCRIPT"
        )
    return replace(task.spec, source=request.script, entrypoint=entrypoint, requirements=request.requirements,
                   interpreter="", env={**task.spec.env, "JOB_ID": task.id})  # fmt: skip


def script_spec(task: Task) -> ScriptSpec:
    return task.spec if isinstance(task.spec, ScriptSpec) else ScriptSpec(source="")


def runtime_minutes(task: Task) -> float:
    """The bound a job was created with (minutes; 0: none)."""
    given = task.compat_metadata.get(RUNTIME)
    return float(given) if given else task.time_limit_seconds / 60


def meta(task: Task) -> struct_pb2.Struct:
    raw = task.compat_metadata.get(META)
    return struct(json.loads(raw)) if raw else struct_pb2.Struct()


def _seconds(moment: float) -> int | None:
    return int(moment) if moment else None


def fill_job(msg: JobMessage, task: Task) -> JobMessage:
    """Set the fields Job and JobDetail share on ``msg``, in place (a list builds thousands: building
    each Value and Struct apart and copying them into the message cost twice as much)."""
    ended = task.state.terminal
    spec = script_spec(task)
    duration = round(task.end_time - task.start_time, 3) if ended and task.start_time and task.end_time else None
    metadata = {
        "task": f"tasks/{task.id}", "kind": task.kind, "attempt": task.attempt, "stateReason": task.state_reason,
        "entrypoint": spec.entrypoint, "hasScript": bool(spec.source) or not task.held, "runtimeMinutesEstimate": runtime_minutes(task),
        "datasetHash": task.compat_metadata.get(DATASET_HASH, ""),
        "exitCode": task.result.exit_code if ended and task.attempt else None,
        "error": task.result.error if task.state is TaskState.FAILED else None,
    }  # fmt: skip
    msg.jobId = task.id
    msg.status = STATUS[task.state]
    msg.datasetName = task.compat_metadata.get(DATASET_NAME, task.display_name)
    msg.datasetUrl = task.compat_metadata.get(DATASET_URL, "")
    msg.meta.SetInParent()  # {} when the job has none
    raw_meta = task.compat_metadata.get(META)
    if raw_meta:
        fill_struct(msg.meta, json.loads(raw_meta))
    msg.createdAt = int(task.create_time)
    set_value(msg.assignedNode, task.node_id or None)
    set_value(msg.startedAt, _seconds(task.start_time))
    set_value(msg.finishedAt, _seconds(task.end_time) if ended else None)
    set_value(msg.duration, duration)
    set_value(msg.modelHash, (task.result.output_sha256 or None) if ended else None)
    fill_struct(msg.metadata, metadata)
    return msg


def job(task: Task) -> job_pb2.Job:
    return fill_job(job_pb2.Job(), task)


def log_entry(line: LogLine) -> job_pb2.LogEntry:
    return job_pb2.LogEntry(line=line.text, timestamp=int(line.time))


def provenance(task: Task, attempts: Sequence[AttemptRecord]) -> list[struct_pb2.Struct]:
    """Where the job came from and where each attempt ran, from what the controller recorded."""
    spec = script_spec(task)
    given = task.compat_metadata
    records = [{"event": "created", "timestamp": int(task.create_time), "datasetName": given.get(DATASET_NAME, ""),
                "datasetUrl": given.get(DATASET_URL, ""), "datasetHash": given.get(DATASET_HASH, "")}]  # fmt: skip
    if spec.source:
        records.append({"event": "script", "entrypoint": spec.entrypoint, "scriptHash": sha256(spec.source),
                        "requirementsHash": sha256(spec.requirements) if spec.requirements else None})  # fmt: skip
    for a in attempts:
        ended = a.state.terminal
        records.append({
            "event": "attempt", "attempt": a.attempt, "nodeId": a.node_id, "status": STATUS[a.state],
            "startedAt": _seconds(a.start_time), "finishedAt": _seconds(a.end_time) if ended else None,
            "exitCode": a.exit_code if ended else None, "modelHash": (a.output_sha256 or None) if ended else None,
            "error": a.error or None,
        })  # fmt: skip
    return [struct(r) for r in records]

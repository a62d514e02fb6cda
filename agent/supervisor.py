"""Runs task attempts on this node: one runner per attempt, controls routed to it.

An attempt is known from its assignment until the controller has acknowledged
its final update; the hello after a reconnect lists every known attempt so
the controller reattaches them instead of starting them again.
"""

from __future__ import annotations

import asyncio
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Awaitable, Callable

import structlog

from agent.outbox import Outbox
from agent.runners.environments import PythonEnvironments
from agent.reporter import AttemptReporter
from agent.runners.base import FinalState, LogSource, Outcome, RunContext, Runner
from aifarm.v1 import agent_service_pb2 as pb
from aifarm.v1 import task_pb2

log = structlog.get_logger(__name__)

#: Uploads a file as an artifact of (task_id, attempt); returns its resource name.
ArtifactUploader = Callable[[str, int, Path], Awaitable[str]]
DatasetFetcher = Callable[[str], Awaitable[Path]]

FINAL_STATES = {
    FinalState.COMPLETED: task_pb2.TASK_STATE_COMPLETED,
    FinalState.FAILED: task_pb2.TASK_STATE_FAILED,
    FinalState.CANCELLED: task_pb2.TASK_STATE_CANCELLED,
}


@dataclass
class Attempt:
    task_id: str
    attempt: int
    runner: Runner
    reporter: AttemptReporter
    state: int = task_pb2.TASK_STATE_RUNNING
    #: Sequence number of the final update, once sent.
    final_seq: int = 0
    job: asyncio.Task[None] | None = field(default=None, repr=False)


def build_runner(task: task_pb2.Task, ctx: RunContext, reporter: AttemptReporter) -> Runner:
    kind = task.WhichOneof("spec")
    if kind == "script":
        from agent.runners.script import ScriptRunner

        return ScriptRunner(task.script, ctx, reporter)
    if kind == "training":
        from agent.runners.training import TrainingRunner

        return TrainingRunner(task.training, ctx, reporter)
    raise ValueError(f"this agent cannot run tasks of kind {kind!r}")


class TaskSupervisor:
    def __init__(
        self, work_dir: Path, outbox: Outbox, fetch_dataset: DatasetFetcher, upload: ArtifactUploader
    ) -> None:
        self.work_dir = work_dir
        self.environments = PythonEnvironments(work_dir.parent / "envs")
        self.outbox = outbox
        self.fetch_dataset = fetch_dataset
        self.upload = upload
        self.attempts: dict[tuple[str, int], Attempt] = {}

    def known(self) -> list[pb.TaskAttempt]:
        """Attempts to list in a hello: running, or ended with the final update not yet acked."""
        self._forget_acked()
        return [pb.TaskAttempt(task_id=a.task_id, attempt=a.attempt, state=a.state) for a in self.attempts.values()]

    def _forget_acked(self) -> None:
        for key, a in list(self.attempts.items()):
            if a.final_seq and self.outbox.is_acked(a.final_seq):
                del self.attempts[key]

    def start(self, assignment: pb.Assignment) -> None:
        task, attempt = assignment.task, assignment.attempt
        task_id = task.name.removeprefix("tasks/")
        if (task_id, attempt) in self.attempts:
            return  # a duplicate delivery; the attempt is already running
        bound = log.bind(task_id=task_id, attempt=attempt)
        workdir = self.work_dir / f"{task_id}-{attempt}"
        shutil.rmtree(workdir, ignore_errors=True)
        workdir.mkdir(parents=True)
        reporter = AttemptReporter(self.outbox, task_id, attempt)
        ctx = RunContext(task_id, attempt, workdir, task.time_limit_seconds, self.fetch_dataset,
                         tuple(assignment.gpu_indices), self.environments)  # fmt: skip
        try:
            runner = build_runner(task, ctx, reporter)
        except Exception as exc:  # noqa: BLE001 - reported to the controller as a failed attempt
            reporter.update(state=task_pb2.TASK_STATE_FAILED, reason=str(exc),
                            result=task_pb2.TaskResult(error=str(exc)))  # fmt: skip
            return
        entry = Attempt(task_id, attempt, runner, reporter)
        self.attempts[(task_id, attempt)] = entry
        reporter.update(state=task_pb2.TASK_STATE_RUNNING)
        entry.job = asyncio.create_task(self._run(entry), name=f"task {task_id}#{attempt}")
        bound.info("task attempt started", kind=task.WhichOneof("spec"), workdir=str(workdir))

    async def _run(self, entry: Attempt) -> None:
        bound = log.bind(task_id=entry.task_id, attempt=entry.attempt)
        try:
            outcome = await entry.runner.run()
        except Exception as exc:  # noqa: BLE001 - a runner bug must still end the attempt
            bound.exception("runner crashed")
            outcome = Outcome(FinalState.FAILED, error=f"runner crashed: {exc}")
        names = [await self._upload(entry, path) for path in outcome.artifacts if path.is_file()]
        entry.state = FINAL_STATES[outcome.state]
        entry.final_seq = entry.reporter.update(
            state=entry.state,
            reason=outcome.error or outcome.state.value,
            result=task_pb2.TaskResult(exit_code=outcome.exit_code, output_sha256=outcome.output_sha256,
                                       error=outcome.error),  # fmt: skip
            artifacts=[n for n in names if n],
        )
        bound.info("task attempt ended", state=outcome.state.value, exit_code=outcome.exit_code, error=outcome.error)

    async def _upload(self, entry: Attempt, path: Path) -> str:
        for delay in (0.5, 1, 2, 4, 8):
            try:
                return await self.upload(entry.task_id, entry.attempt, path)
            except Exception as exc:  # noqa: BLE001 - retried, then reported in the log
                log.warning("artifact upload failed; retrying", task_id=entry.task_id, file=path.name,
                            error=str(exc))  # fmt: skip
                await asyncio.sleep(delay)
        entry.reporter.log(LogSource.SYSTEM, f"could not upload artifact {path.name}")
        return ""

    async def control(self, control: pb.TaskControl) -> None:
        entry = self.attempts.get((control.task_id, control.attempt))
        if entry is None or entry.final_seq:
            return
        action = {
            pb.TASK_ACTION_PAUSE: entry.runner.pause,
            pb.TASK_ACTION_RESUME: entry.runner.resume,
            pb.TASK_ACTION_STOP: entry.runner.stop,
            pb.TASK_ACTION_CANCEL: entry.runner.cancel,
        }.get(control.action)
        if action is not None:
            log.info("task control", task_id=control.task_id, attempt=control.attempt,
                     action=pb.TaskAction.Name(control.action))  # fmt: skip
            await action()

    async def drop(self, task_id: str, attempt: int) -> None:
        """The controller superseded this attempt: end it and forget it, reporting nothing more."""
        entry = self.attempts.pop((task_id, attempt), None)
        if entry is not None and not entry.final_seq:
            log.info("cancelling a superseded attempt", task_id=task_id, attempt=attempt)
            await entry.runner.cancel()

    async def shutdown(self) -> None:
        for entry in self.attempts.values():
            if not entry.final_seq:
                await entry.runner.cancel()
        jobs = [a.job for a in self.attempts.values() if a.job]
        if jobs:
            await asyncio.wait(jobs, timeout=10)

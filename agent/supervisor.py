"""Runs task attempts on this node: one runner per attempt, controls routed to it.

An attempt is known from its assignment until the controller has acknowledged
its final update; the hello after a reconnect lists every known attempt so
the controller reattaches them instead of starting them again.

Attempts belong to the process, not to a stream: their jobs run in the task
group the composition root attaches (`attach`), so they outlive reconnects. A job
never ends without a final update (a runner that crashes fails its attempt), and
never raises into that group, so one runner's bug cannot end the others.
"""

from __future__ import annotations

import asyncio
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Awaitable, Callable

import structlog

from agent.clock import Clock, LoopClock
from agent.errors import AgentError, UnsupportedTask
from agent.outbox import Outbox
from agent.reporter import AttemptReporter
from agent.runners.base import FinalState, LogSource, Outcome, RunContext, Runner
from agent.runners.environments import PythonEnvironments
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
#: Seconds between the tries of an artifact upload.
UPLOAD_RETRY_DELAYS = (0.5, 1, 2, 4, 8)
#: Seconds cancelled attempts get to end at shutdown before their jobs are cancelled.
SHUTDOWN_SECONDS = 10.0


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
    #: Controls are carried out one at a time, in the order they came.
    controls: asyncio.Lock = field(default_factory=asyncio.Lock, repr=False)


def build_runner(task: task_pb2.Task, ctx: RunContext, reporter: AttemptReporter) -> Runner:
    kind = task.WhichOneof("spec")
    if kind == "script":
        from agent.runners.script import ScriptRunner

        return ScriptRunner(task.script, ctx, reporter)
    if kind == "training":
        from agent.runners.training import TrainingRunner

        return TrainingRunner(task.training, ctx, reporter)
    raise UnsupportedTask(f"this agent cannot run tasks of kind {kind!r}")


class TaskSupervisor:
    def __init__(
        self,
        work_dir: Path,
        outbox: Outbox,
        fetch_dataset: DatasetFetcher,
        upload: ArtifactUploader,
        *,
        clock: Clock | None = None,
    ) -> None:
        self.work_dir = work_dir
        self.environments = PythonEnvironments(work_dir.parent / "envs")
        self.outbox = outbox
        self.fetch_dataset = fetch_dataset
        self.upload = upload
        self.clock = clock or LoopClock()
        self.attempts: dict[tuple[str, int], Attempt] = {}
        self._group: asyncio.TaskGroup | None = None
        self._closing = False

    def attach(self, group: asyncio.TaskGroup) -> None:
        """Run every attempt's job (and control) in `group`, the process's task group."""
        self._group = group

    def _spawn(self, work: Awaitable[None], name: str) -> asyncio.Task[None]:
        if self._group is None:
            raise AgentError("the task supervisor runs attempts only once attached to the agent's task group")
        return self._group.create_task(work, name=name)  # type: ignore[arg-type]

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
        if (task_id, attempt) in self.attempts or self._closing:
            return  # a duplicate delivery (the attempt is already running), or the agent is stopping
        bound = log.bind(task_id=task_id, attempt=attempt)
        workdir = self.work_dir / f"{task_id}-{attempt}"
        shutil.rmtree(workdir, ignore_errors=True)
        workdir.mkdir(parents=True)
        reporter = AttemptReporter(self.outbox, task_id, attempt, clock=self.clock)
        ctx = RunContext(task_id, attempt, workdir, task.time_limit_seconds, self.fetch_dataset,
                         tuple(assignment.gpu_indices), self.environments)  # fmt: skip
        try:
            runner = build_runner(task, ctx, reporter)
        except Exception as exc:  # noqa: BLE001 - reported to the controller as a failed attempt
            reporter.update(state=task_pb2.TASK_STATE_FAILED, reason=str(exc),
                            result=task_pb2.TaskResult(error=str(exc)))  # fmt: skip
            return
        entry = Attempt(task_id, attempt, runner, reporter)
        entry.job = self._spawn(self._run(entry), name=f"task {task_id}#{attempt}")
        self.attempts[(task_id, attempt)] = entry
        reporter.update(state=task_pb2.TASK_STATE_RUNNING)
        bound.info("task attempt started", kind=task.WhichOneof("spec"), workdir=str(workdir))

    async def _run(self, entry: Attempt) -> None:
        """The attempt's job: run, upload what it left, report how it ended. Never raises
        but CancelledError (the agent stopping, or the attempt dropped)."""
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
        for delay in UPLOAD_RETRY_DELAYS:
            try:
                return await self.upload(entry.task_id, entry.attempt, path)
            except Exception as exc:  # noqa: BLE001 - retried, then reported in the log
                log.warning("artifact upload failed; retrying", task_id=entry.task_id, file=path.name,
                            error=str(exc))  # fmt: skip
                await self.clock.sleep(delay)
        entry.reporter.log(LogSource.SYSTEM, f"could not upload artifact {path.name}")
        return ""

    def control(self, control: pb.TaskControl) -> None:
        """Carry out a pause, resume, stop or cancel in the background.

        Not awaited by the stream's reader: a stop can take a runner's grace period,
        and the stream must go on meanwhile.
        """
        entry = self.attempts.get((control.task_id, control.attempt))
        if entry is None or entry.final_seq:
            return
        action = {
            pb.TASK_ACTION_PAUSE: entry.runner.pause,
            pb.TASK_ACTION_RESUME: entry.runner.resume,
            pb.TASK_ACTION_STOP: entry.runner.stop,
            pb.TASK_ACTION_CANCEL: entry.runner.cancel,
        }.get(control.action)
        if action is None:
            return
        name = pb.TaskAction.Name(control.action)
        log.info("task control", task_id=control.task_id, attempt=control.attempt, action=name)
        self._spawn(self._control(entry, name, action), name=f"{name} {entry.task_id}#{entry.attempt}")

    async def _control(self, entry: Attempt, name: str, action: Callable[[], Awaitable[None]]) -> None:
        async with entry.controls:
            try:
                await action()
            except Exception as exc:  # noqa: BLE001 - a runner bug; the attempt goes on, and says so
                log.exception("task control failed", task_id=entry.task_id, attempt=entry.attempt, action=name)
                entry.reporter.log(LogSource.SYSTEM, f"could not carry out {name}: {exc}")

    async def drop(self, task_id: str, attempt: int) -> None:
        """The controller superseded this attempt: end it and forget it, reporting nothing more."""
        entry = self.attempts.pop((task_id, attempt), None)
        if entry is not None and not entry.final_seq:
            log.info("cancelling a superseded attempt", task_id=task_id, attempt=attempt)
            await self._cancel(entry)

    async def _cancel(self, entry: Attempt) -> None:
        try:
            await entry.runner.cancel()
        except Exception:  # noqa: BLE001 - a runner bug; its job is cancelled instead
            log.exception("runner cancel failed", task_id=entry.task_id, attempt=entry.attempt)
            if entry.job is not None:
                entry.job.cancel()

    async def shutdown(self) -> None:
        """Cancel every running attempt and wait for their jobs; safe to call twice."""
        self._closing = True
        for entry in list(self.attempts.values()):
            if not entry.final_seq:
                await self._cancel(entry)
        jobs = [a.job for a in self.attempts.values() if a.job and not a.job.done()]
        if jobs:
            _, late = await asyncio.wait(jobs, timeout=SHUTDOWN_SECONDS)
            for job in late:  # cancelling a runner's job kills its process group
                job.cancel()

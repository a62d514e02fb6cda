"""Runs task attempts on this node: one runner per attempt, controls routed to it.

An attempt is known from its assignment until the controller has acknowledged
its final update; the hello after a reconnect lists every known attempt so
the controller reattaches them instead of starting them again.

Attempts belong to the process, not to a stream: their jobs run in the task
group the composition root attaches (`attach`), so they outlive reconnects. A job
never ends without a final update (a runner that crashes fails its attempt), and
never raises into that group, so one runner's bug cannot end the others.

A crash of the agent loses no attempt that finished. The final update is on
disk (the outbox's file, synced) before the attempt is reported ended here; an
attempt with artifacts to upload first has its outcome on disk before the
uploads start (`.outcome.json` in its work directory). The next run of the agent
finds both: attempts whose final update is still unacked are listed in its hello
(so the controller reattaches them, then takes the replay), and an attempt whose
uploads were cut short uploads again and reports. An attempt the agent itself
cancels on its way out reports nothing: the controller requeues its work.

Before anything runs, `attach` ends whatever processes a previous run of the
agent left (agent.runners.child_registry) and says so, then starts the keeper
that ends this run's task sessions the moment the agent dies.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Awaitable, Callable

import structlog
from google.protobuf import timestamp_pb2

from agent.clock import Clock, LoopClock
from agent.errors import AgentError, UnsupportedTask
from agent.models.local_store import LocalModelStore
from agent.serving.services import ServiceBook
from agent.outbox import Outbox
from agent.reporter import AttemptReporter
from agent.runners.base import FinalState, LogSource, Outcome, RunContext, Runner
from agent.runners.child_registry import ChildRegistry, Keeper, Leftover
from agent.runners.environments import PythonEnvironments
from agent.training.spec import Rendezvous
from aifarm.v1 import agent_service_pb2 as pb
from aifarm.v1 import task_pb2

log = structlog.get_logger(__name__)

#: Uploads a file as an artifact of (task_id, attempt); returns its resource name.
ArtifactUploader = Callable[[str, int, Path], Awaitable[str]]
DatasetFetcher = Callable[[str], Awaitable[Path]]
ModelFetcher = Callable[[str], Awaitable[Path]]

FINAL_STATES = {
    FinalState.COMPLETED: task_pb2.TASK_STATE_COMPLETED,
    FinalState.FAILED: task_pb2.TASK_STATE_FAILED,
    FinalState.CANCELLED: task_pb2.TASK_STATE_CANCELLED,
}
ENDED = frozenset(FINAL_STATES.values())
#: In an attempt's work directory: its outcome, kept while its artifacts are being uploaded.
OUTCOME_FILE = ".outcome.json"
#: Line numbers of the system lines a restarted agent adds to an attempt of its previous run (one per
#: ended process, numbered by pid) start here, above any line the attempt printed itself.
LEFTOVER_LINES_FROM = 0xF000_0000
#: Seconds between the tries of an artifact upload.
UPLOAD_RETRY_DELAYS = (0.5, 1, 2, 4, 8)
#: Seconds cancelled attempts get to end at shutdown before their jobs are cancelled.
SHUTDOWN_SECONDS = 10.0


@dataclass
class Attempt:
    task_id: str
    attempt: int
    #: None for an attempt of the agent's previous run (ended, or finishing its uploads).
    runner: Runner | None
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
    if kind == "command":
        from agent.runners.command import CommandRunner

        return CommandRunner(task.command, ctx, reporter)
    if kind == "model_operation":
        store = ctx.data_store if task.model_operation.pool == task_pb2.STORAGE_POOL_DATA else ctx.model_store
        if store is not None:
            from agent.runners.model_operation import ModelOperationRunner

            return ModelOperationRunner(task.model_operation, ctx, reporter, store, ctx.peer_source)
    if kind == "serving" and ctx.model_store is not None and ctx.services is not None:
        from agent.runners.serving import ServingRunner

        return ServingRunner(task.serving, ctx, reporter, ctx.model_store, ctx.services)
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
        children: ChildRegistry | None = None,
        fetch_model: ModelFetcher | None = None,
        node_id: str = "",
        model_store: LocalModelStore | None = None,
        services: ServiceBook | None = None,
        data_store: LocalModelStore | None = None,
    ) -> None:
        self.work_dir = work_dir
        self.node_id = node_id
        self.model_store = model_store
        self.data_store = data_store
        self.services = services
        self.fetch_model = fetch_model
        self.children = children
        self.environments = PythonEnvironments(work_dir.parent / "envs", children=children)
        self.outbox = outbox
        self.fetch_dataset = fetch_dataset
        self.upload = upload
        self.clock = clock or LoopClock()
        self.attempts: dict[tuple[str, int], Attempt] = {}
        self._group: asyncio.TaskGroup | None = None
        self._closing = False
        self._keeper: Keeper | None = None
        self._recover_ended()

    def attach(self, group: asyncio.TaskGroup) -> None:
        """Run every attempt's job (and control) in `group`, the process's task group.

        First end what a previous run of the agent left running, and go on with the
        uploads of an attempt it had finished but not reported."""
        self._group = group
        self._end_leftovers()
        if self.children is not None and self._keeper is None:
            self._keeper = self.children.start_keeper()
        self._resume_finishing()

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
        try:
            workdir.mkdir(parents=True)
        except FileExistsError:  # what an earlier delivery of this attempt left
            shutil.rmtree(workdir, ignore_errors=True)
            workdir.mkdir(parents=True)
        reporter = AttemptReporter(self.outbox, task_id, attempt, clock=self.clock)
        ctx = RunContext(task_id, attempt, workdir, task.time_limit_seconds, self.fetch_dataset,
                         tuple(assignment.gpu_indices), self.environments, self.children,
                         self.fetch_model, _rendezvous(assignment), self.node_id, self.model_store,
                         assignment.peer_source if assignment.HasField("peer_source") else None,
                         self.services, self.data_store)  # fmt: skip
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
        assert entry.runner is not None
        try:
            outcome = await entry.runner.run()
        except Exception as exc:  # noqa: BLE001 - a runner bug must still end the attempt
            bound.exception("runner crashed")
            outcome = Outcome(FinalState.FAILED, error=f"runner crashed: {exc}")
        if self._closing and outcome.state is FinalState.CANCELLED:
            # Cancelled by the agent on its way out: not the attempt's end, and not to be replayed
            # by the next run. The controller requeues the work of a node that left.
            bound.info("task attempt cancelled as the agent stops; not reported")
            return
        artifacts = [path for path in outcome.artifacts if path.is_file()]
        if artifacts:
            await asyncio.to_thread(_save_outcome, self._workdir(entry), outcome, artifacts)
        await self._report_end(entry, outcome, artifacts)

    async def _report_end(self, entry: Attempt, outcome: Outcome, artifacts: list[Path]) -> None:
        """Upload the artifacts, put the final update, and have it on disk before saying the attempt ended."""
        names = [await self._upload(entry, path) for path in artifacts]
        entry.state = FINAL_STATES[outcome.state]
        entry.final_seq = entry.reporter.update(
            state=entry.state,
            reason=outcome.error or outcome.state.value,
            result=task_pb2.TaskResult(exit_code=outcome.exit_code, output_sha256=outcome.output_sha256,
                                       error=outcome.error),  # fmt: skip
            artifacts=[n for n in names if n],
        )
        await self.outbox.sync()
        (self._workdir(entry) / OUTCOME_FILE).unlink(missing_ok=True)
        log.info("task attempt ended", task_id=entry.task_id, attempt=entry.attempt, state=outcome.state.value,
                 exit_code=outcome.exit_code, error=outcome.error)  # fmt: skip

    def _workdir(self, entry: Attempt) -> Path:
        return self.work_dir / f"{entry.task_id}-{entry.attempt}"

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
        if entry is None or entry.final_seq or entry.runner is None:
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
            (self._workdir(entry) / OUTCOME_FILE).unlink(missing_ok=True)

    async def _cancel(self, entry: Attempt) -> None:
        if entry.runner is None:  # an attempt of the previous run, finishing its uploads
            if entry.job is not None:
                entry.job.cancel()
            return
        try:
            await entry.runner.cancel()
        except Exception:  # noqa: BLE001 - a runner bug; its job is cancelled instead
            log.exception("runner cancel failed", task_id=entry.task_id, attempt=entry.attempt)
            if entry.job is not None:
                entry.job.cancel()

    async def shutdown(self) -> None:
        """Cancel every running attempt and wait for their jobs, then let the keeper go (it ends
        whatever is still recorded); safe to call twice."""
        self._closing = True
        for entry in list(self.attempts.values()):
            if not entry.final_seq:
                await self._cancel(entry)
        jobs = [a.job for a in self.attempts.values() if a.job and not a.job.done()]
        if jobs:
            _, late = await asyncio.wait(jobs, timeout=SHUTDOWN_SECONDS)
            for job in late:  # cancelling a runner's job kills its process group
                job.cancel()
        if self._keeper is not None:
            keeper, self._keeper = self._keeper, None
            await asyncio.to_thread(keeper.close)

    # --- what a previous run of the agent left ----------------------------------------

    def _recover_ended(self) -> None:
        """Attempts whose final update the previous run put in the outbox but did not get acked."""
        for seq, message in self.outbox.after(0):
            update = message.task_update if message.WhichOneof("message") == "task_update" else None
            if update is not None and update.state in ENDED:
                reporter = AttemptReporter(self.outbox, update.task_id, update.attempt, clock=self.clock)
                self.attempts[(update.task_id, update.attempt)] = Attempt(
                    update.task_id, update.attempt, None, reporter, state=update.state, final_seq=seq)
        if self.attempts:
            log.info("attempts ended before a restart, their results to be replayed",
                     attempts=[f"{t}#{a}" for t, a in self.attempts])  # fmt: skip

    def _resume_finishing(self) -> None:
        """Attempts that had ended, with their artifacts still to upload, when the previous run stopped."""
        for path in sorted(self.work_dir.glob(f"*/{OUTCOME_FILE}")) if self.work_dir.is_dir() else ():
            task_id, _, number = path.parent.name.rpartition("-")
            saved = _load_outcome(path)
            if saved is None or not number.isdigit() or (task_id, int(number)) in self.attempts:
                path.unlink(missing_ok=True)  # unreadable, or its final update is already in the outbox
                continue
            outcome, artifacts = saved
            attempt = int(number)
            reporter = AttemptReporter(self.outbox, task_id, attempt, clock=self.clock)
            entry = Attempt(task_id, attempt, None, reporter)
            self.attempts[(task_id, attempt)] = entry
            log.info("uploading the artifacts of an attempt that ended before a restart", task_id=task_id,
                     attempt=attempt, state=outcome.state.value)  # fmt: skip
            entry.job = self._spawn(self._report_end(entry, outcome, artifacts), name=f"finish {task_id}#{attempt}")

    def _end_leftovers(self) -> None:
        if self.children is None:
            return
        for left in self.children.sweep():
            log.warning("ended a process left running by a previous run of this agent", pid=left.pid,
                        task_id=left.task_id or None, attempt=left.attempt or None, command=left.command)  # fmt: skip
            if left.task_id:
                self._tell_attempt(left)

    def _tell_attempt(self, left: Leftover) -> None:
        """A system line on the attempt the process belonged to (kept if the controller still has it here)."""
        now = timestamp_pb2.Timestamp()
        now.GetCurrentTime()
        line = task_pb2.LogLine(
            seq=LEFTOVER_LINES_FROM + (left.pid & 0x0FFF_FFFF), attempt=left.attempt,
            stream=task_pb2.LOG_STREAM_SYSTEM, time=now,
            text=f"the agent restarted and ended process {left.pid} ({left.command or 'unknown command'}), "
                 "left running by its previous run",
        )  # fmt: skip
        self.outbox.put_logs(pb.TaskLogBatch(task_id=left.task_id, attempt=left.attempt, lines=[line]))


def _save_outcome(workdir: Path, outcome: Outcome, artifacts: list[Path]) -> None:
    """Write (and sync) an ended attempt's outcome, to finish reporting it after a crash."""
    path, tmp = workdir / OUTCOME_FILE, workdir / f"{OUTCOME_FILE}.tmp"
    data = {"state": outcome.state.value, "exit_code": outcome.exit_code, "output_sha256": outcome.output_sha256,
            "error": outcome.error, "artifacts": [str(p) for p in artifacts]}  # fmt: skip
    with tmp.open("w", encoding="utf-8") as f:
        json.dump(data, f)
        f.flush()
        os.fsync(f.fileno())
    tmp.replace(path)


def _load_outcome(path: Path) -> tuple[Outcome, list[Path]] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        artifacts = [Path(p) for p in data["artifacts"] if Path(p).is_file()]
        outcome = Outcome(FinalState(data["state"]), int(data["exit_code"]), str(data["output_sha256"]),
                          str(data["error"]), artifacts)  # fmt: skip
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return outcome, artifacts


def _rendezvous(assignment: pb.Assignment) -> Rendezvous | None:
    """Where a gang's rank meets the others; None for an ordinary assignment."""
    if assignment.world_size <= 1:
        return None
    return Rendezvous(assignment.rank, assignment.world_size, assignment.master_addr, assignment.master_port)

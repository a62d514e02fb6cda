"""The training runner: a torch training run in a worker subprocess.

The worker (`python -m agent.training.worker`, protocol in its docstring)
keeps torch and the training loop out of the agent's process and event loop.
This runner validates the spec, resolves the data, starts the worker in its own
process group, turns its JSON-line events into reporter calls and sends it
pause/resume/stop on stdin.
"""

from __future__ import annotations

import asyncio
import collections
import importlib.util
import json
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any, Awaitable, Callable

from agent.runners.base import FinalState, LogSource, Outcome, RunContext, TaskReporter, task_env
from agent.runners.child_runner import ChildRunner, Ending
from agent.runners.process import DEFAULT_GRACE_SECONDS, ChildProcess, describe_exit, sha256_file, spawn
from agent.training.model_url import fetch_model_url
from agent.training.spec import WorkerSpec
from aifarm.v1 import task_pb2
from taskspec.errors import SpecError
from taskspec.proto import training_from_proto
from taskspec.training import CHECKPOINT_FILE, registry_model

#: The directory holding the `agent` package, put on the worker's PYTHONPATH.
_REPO_ROOT = Path(__file__).resolve().parents[2]
SPEC_FILE = "training_spec.json"
#: Seconds a stopped worker gets to finish its step and checkpoint before it is terminated.
DEFAULT_STOP_TIMEOUT_SECONDS = 120.0
#: stderr lines quoted in the error when the worker crashes.
_STDERR_TAIL = 10


class TrainingRunner(ChildRunner):
    """Trains `spec.architecture` on the spec's data; the outcome carries the checkpoint.

    Completed: artifacts = [checkpoint], output_sha256 = its sha256. Stop asks
    the worker to finish its step and checkpoint (CANCELLED, with the
    checkpoint); after `stop_timeout_seconds` it is terminated. Cancel kills
    the worker (CANCELLED, with the last epoch's checkpoint if there is one).
    The time limit (wall clock from the start, dataset fetch included)
    SIGTERMs the worker, which checkpoints, then SIGKILLs it after
    `grace_seconds` (FAILED).
    """

    kind = "training"
    ok_summary = "done"

    def __init__(
        self,
        spec: task_pb2.TrainingSpec,
        ctx: RunContext,
        reporter: TaskReporter,
        *,
        grace_seconds: float = DEFAULT_GRACE_SECONDS,
        stop_timeout_seconds: float = DEFAULT_STOP_TIMEOUT_SECONDS,
    ) -> None:
        super().__init__(ctx, reporter, grace_seconds=grace_seconds)
        self._spec = spec
        self._stop_timeout = stop_timeout_seconds
        self._checkpoint = ctx.workdir / CHECKPOINT_FILE
        self._sent_paused = False
        self._done: dict[str, Any] | None = None
        self._stderr_tail: collections.deque[str] = collections.deque(maxlen=_STDERR_TAIL)

    async def run(self) -> Outcome:
        loop = asyncio.get_running_loop()
        limit = self._ctx.time_limit_seconds
        deadline = loop.time() + limit if limit > 0 else None
        try:
            worker_spec = self._plan()
        except SpecError as exc:
            return self._finish(Outcome(FinalState.FAILED, error=str(exc)))
        # What the worker needs fetched first, each step within the time limit; a step's failure
        # fails the attempt with what went wrong (fetch errors say it themselves), also in its log.
        steps: tuple[tuple[Callable[[WorkerSpec], Awaitable[WorkerSpec]], Callable[[Exception], str]], ...] = (
            (self._resolve_dataset, lambda exc: f"cannot fetch dataset {self._spec.dataset!r}: {exc}"),
            (self._resolve_base_model, lambda exc: f"cannot fetch {self._spec.architecture!r}: {exc}"),
            (self._resolve_model_url, str),
        )
        for resolve, describe in steps:
            try:
                worker_spec = await asyncio.wait_for(resolve(worker_spec), _remaining(deadline, loop))
            except TimeoutError:
                return self._finish(Outcome(FinalState.FAILED, error=f"time limit of {limit} s exceeded"))
            except Exception as exc:  # noqa: BLE001 - whatever a fetcher raises, the attempt fails with its message
                error = describe(exc)
                self._reporter.log(LogSource.SYSTEM, f"error: {error}")
                return self._finish(Outcome(FinalState.FAILED, error=error))
        if (early := self._ended_before_start()) is not None:
            return early
        spec_path = self._ctx.workdir / SPEC_FILE
        spec_path.write_text(worker_spec.to_json(), encoding="utf-8")
        child = await self._start_worker(spec_path)
        if child is None:
            return self._finish(Outcome(FinalState.FAILED, error="cannot start the training worker"))
        returncode = await self._watch(child, _remaining(deadline, loop))
        if child.proc.stdin is not None:
            child.proc.stdin.close()
        return self._finish(await self._outcome(returncode))

    def _plan(self) -> WorkerSpec:
        if not _torch_installed():
            # torch is the agent's extra (pip install 'aifarm[agent]'): say so rather than crash in the worker.
            raise SpecError("torch is not installed on this node; install it with pip install torch==2.13.0"
                            " (or 'aifarm[agent]') and restart the agent")  # fmt: skip
        spec = training_from_proto(self._spec)
        spec.validate()
        return WorkerSpec(config=spec.config, checkpoint_path=str(self._checkpoint.resolve()), synthetic=spec.synthetic,
                          rendezvous=self._ctx.rendezvous)  # fmt: skip

    async def _resolve_dataset(self, worker_spec: WorkerSpec) -> WorkerSpec:
        if worker_spec.synthetic is not None:
            return worker_spec
        self._reporter.log(LogSource.SYSTEM, f"fetching {self._spec.dataset}")
        path = await self._ctx.fetch_dataset(self._spec.dataset)
        return replace(worker_spec, dataset_path=str(Path(path).resolve()))

    async def _resolve_base_model(self, worker_spec: WorkerSpec) -> WorkerSpec:
        """Fetch the registry model a "models/NAME" architecture names, to train it further."""
        name = registry_model(self._spec.architecture)
        if name is None:
            return worker_spec
        if self._ctx.fetch_model is None:
            raise SpecError("this agent cannot fetch models of the registry")
        self._reporter.log(LogSource.SYSTEM, f"fetching {self._spec.architecture}")
        path = await self._ctx.fetch_model(self._spec.architecture)
        return replace(worker_spec, base_model_path=str(Path(path).resolve()), base_model_name=name)

    async def _resolve_model_url(self, worker_spec: WorkerSpec) -> WorkerSpec:
        """Fetch the model_url to start from: a checkpoint to train further, or create_model() code."""
        if not self._spec.model_url:
            return worker_spec
        version = f" (Version: {self._spec.model_version})" if self._spec.model_version else ""
        self._reporter.log(LogSource.SYSTEM, f"fetching model {self._spec.model_url}{version}")
        fetched = await fetch_model_url(self._spec.model_url, self._spec.model_version, self._ctx.workdir)
        if fetched.is_code:
            return replace(worker_spec, model_code_path=str(fetched.path.resolve()), base_model_name=self._spec.model_url)
        return replace(worker_spec, base_model_path=str(fetched.path.resolve()), base_model_name=self._spec.model_url)

    async def _start_worker(self, spec_path: Path) -> ChildProcess | None:
        argv = [sys.executable, "-m", "agent.training.worker", str(spec_path)]
        env = task_env(self._ctx, {})
        # The package is normally installed; this keeps a plain checkout working too.
        env["PYTHONPATH"] = ":".join(p for p in (str(_REPO_ROOT), env.get("PYTHONPATH", "")) if p)
        self._reporter.log(LogSource.SYSTEM, f"starting: training {self._spec.architecture} (python -m agent.training.worker)")
        self._log.info("training worker starting", argv=argv)
        try:
            return await spawn(argv, cwd=self._ctx.workdir, env=env, stdin=asyncio.subprocess.PIPE,
                               registry=self._ctx.children, task_id=self._ctx.task_id, attempt=self._ctx.attempt)
        except OSError as exc:
            self._log.error("training worker did not start", error=str(exc))
            return None

    # --- what the worker says -------------------------------------------------------

    def _on_stdout(self, line: str) -> None:
        try:
            event = json.loads(line)
            self._handle(event)
        except (ValueError, KeyError, TypeError, AttributeError):
            # Not protocol (the worker sends stray prints to stderr, but be lenient).
            self._reporter.log(LogSource.STDOUT, line)

    def _handle(self, event: dict[str, Any]) -> None:
        kind = event["event"]
        if kind == "log":
            self._reporter.log(LogSource.STDOUT, str(event["text"]))
        elif kind == "progress":
            self._reporter.progress(float(event["fraction"]))
        elif kind == "epoch":
            values = {str(k): float(v) for k, v in event["values"].items()}
            self._reporter.metric(int(event["epoch"]), values)
        elif kind == "checkpoint":
            self._log.debug("checkpoint written", path=event["path"])
        elif kind in ("paused", "resumed"):
            self._reporter.paused(kind == "paused")
        elif kind == "done":
            self._done = {"state": str(event["state"]), "error": str(event.get("error", ""))}
        else:
            raise KeyError(kind)

    def _on_stderr(self, line: str) -> None:
        self._stderr_tail.append(line)
        self._reporter.log(LogSource.STDERR, line)

    # --- how it ended ---------------------------------------------------------------

    async def _outcome(self, returncode: int) -> Outcome:
        artifacts = [self._checkpoint] if self._checkpoint.is_file() else []
        sha = await asyncio.to_thread(sha256_file, self._checkpoint) if artifacts else ""
        exit_code, description = describe_exit(returncode)
        done_state = self._done["state"] if self._done else None
        # First: a run that finished and exited cleanly is done, even if a stop came too late.
        # Only rank 0 of a gang writes the checkpoint.
        writes_checkpoint = self._ctx.rendezvous is None or self._ctx.rendezvous.rank == 0
        if done_state == "completed" and returncode == 0 and (artifacts or not writes_checkpoint):
            return Outcome(FinalState.COMPLETED, 0, sha, "", artifacts)
        if self._ending is Ending.TIME_LIMIT:
            error = f"time limit of {self._ctx.time_limit_seconds} s exceeded"
            return Outcome(FinalState.FAILED, exit_code, sha, error, artifacts)
        if self._ending is not None or done_state == "cancelled":
            why = self._ending.value if self._ending else "stopped by the worker"
            return Outcome(FinalState.CANCELLED, exit_code, sha, why, artifacts)
        if done_state == "failed" and self._done and self._done["error"]:
            return Outcome(FinalState.FAILED, exit_code, sha, self._done["error"], artifacts)
        tail = "\n".join(self._stderr_tail)
        error = f"training worker {description}" + (f":\n{tail}" if tail else "")
        return Outcome(FinalState.FAILED, exit_code, sha, error, artifacts)

    # --- how a worker is paused and stopped: commands on its stdin --------------------

    async def _pause_child(self) -> None:
        if not self._sent_paused and await self._send("pause"):
            self._sent_paused = True

    async def _resume_child(self) -> None:
        if self._sent_paused and await self._send("resume"):
            self._sent_paused = False

    async def _stop_child(self) -> None:
        """Ask for a checkpoint and an end; terminate if that takes too long."""
        await self._send("stop")
        self._background.append(asyncio.create_task(self._escalate_stop()))

    async def _escalate_stop(self) -> None:
        child = self._child
        if child is not None and not await child.wait(self._stop_timeout):
            self._log.warning("worker ignored stop; terminating", timeout=self._stop_timeout)
            await child.terminate(self._grace)

    async def _send(self, command: str) -> bool:
        """Write one command line to the worker; False when it is not there to read it."""
        child = self._child
        if child is None or not child.running or child.proc.stdin is None or child.proc.stdin.is_closing():
            return False
        try:
            child.proc.stdin.write(command.encode() + b"\n")
            await child.proc.stdin.drain()
        except (BrokenPipeError, ConnectionResetError):
            return False
        return True


def _torch_installed() -> bool:
    try:
        return importlib.util.find_spec("torch") is not None
    except ImportError:
        return False


def _remaining(deadline: float | None, loop: asyncio.AbstractEventLoop) -> float | None:
    return None if deadline is None else max(deadline - loop.time(), 0.0)

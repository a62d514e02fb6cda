"""The script runner: a task's source run as a subprocess in its own directory.

Besides `ScriptRunner`, this module holds the subprocess plumbing the training
runner shares with it: `ChildProcess` (a child in its own process group),
`pump_lines` (a pipe read line by line) and the output hashes.
"""

from __future__ import annotations

import asyncio
import enum
import hashlib
import os
import shlex
import signal
import sys
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable

import structlog

from agent.runners.base import FinalState, LogSource, Outcome, RunContext, Runner, TaskReporter, task_env
from aifarm.v1 import task_pb2
from taskspec.errors import SpecError
from taskspec.proto import script_from_proto
from taskspec.script import validate_entrypoint

#: Lines longer than this are passed on in pieces of this size.
MAX_LINE_BYTES = 64 * 1024
#: Seconds between SIGTERM and SIGKILL when a process is asked to end.
DEFAULT_GRACE_SECONDS = 5.0
#: Seconds to wait for the pipes to drain once the process has gone.
_DRAIN_SECONDS = 5.0

_INTERPRETERS = {"python": [sys.executable, "-u"], "bash": ["bash"]}


class Ending(enum.Enum):
    """Why the agent, rather than the process itself, ended a run."""

    STOP = "stopped"
    CANCEL = "cancelled"
    TIME_LIMIT = "time limit"


# --- shared subprocess plumbing ---------------------------------------------------------


class ChildProcess:
    """A subprocess started with `start_new_session=True`, so its pid is its group id.

    Signals go to the whole group, so that whatever the task spawned is paused
    or ended with it.
    """

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc

    @property
    def running(self) -> bool:
        return self.proc.returncode is None

    def signal_group(self, sig: int) -> None:
        """Send `sig` to the group; a no-op once the leader has been reaped."""
        if self.running:
            _killpg(self.proc.pid, sig)

    async def wait(self, timeout: float | None) -> bool:
        """Wait for the leader to exit; False when `timeout` passed first."""
        try:
            await asyncio.wait_for(self.proc.wait(), timeout)
        except TimeoutError:
            return False
        return True

    async def terminate(self, grace: float) -> None:
        """SIGTERM the group, then SIGKILL it if the leader outlives `grace` seconds."""
        self.signal_group(signal.SIGTERM)
        # A stopped process only acts on SIGTERM once it runs again.
        self.signal_group(signal.SIGCONT)
        if not await self.wait(grace):
            self.signal_group(signal.SIGKILL)
            await self.proc.wait()

    def reap_group(self) -> None:
        """Kill what the task left running in its group after the leader exited.

        Leftovers would keep the pipes open and outlive the attempt.
        """
        _killpg(self.proc.pid, signal.SIGKILL)


def _killpg(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


async def pump_lines(stream: asyncio.StreamReader, emit: Callable[[str], None]) -> None:
    """Pass each line of `stream` to `emit` as soon as it is read, without its newline.

    Decodes UTF-8 with replacement; lines over `MAX_LINE_BYTES` are split.
    Reads chunks rather than `readline()`, which raises on over-long lines.
    """
    pending = b""
    while chunk := await stream.read(MAX_LINE_BYTES):
        pending += chunk
        *lines, pending = pending.split(b"\n")
        for line in lines:
            _emit_pieces(line, emit)
        while len(pending) >= MAX_LINE_BYTES:
            emit(_decode(pending[:MAX_LINE_BYTES]))
            pending = pending[MAX_LINE_BYTES:]
    if pending:
        _emit_pieces(pending, emit)


def _emit_pieces(line: bytes, emit: Callable[[str], None]) -> None:
    line = line.removesuffix(b"\r")
    if not line:
        emit("")
    for start in range(0, len(line), MAX_LINE_BYTES):
        emit(_decode(line[start : start + MAX_LINE_BYTES]))


def _decode(data: bytes) -> str:
    return data.decode("utf-8", errors="replace")


async def drain(pumps: list[asyncio.Task[None]]) -> None:
    """Let the pipe readers finish; give up on them after `_DRAIN_SECONDS`."""
    _, pending = await asyncio.wait(pumps, timeout=_DRAIN_SECONDS)
    for task in pending:
        task.cancel()


def hash_outputs(root: Path, exclude: frozenset[str] = frozenset()) -> str:
    """sha256 over the regular files under `root`; "" when there are none.

    Scheme: files are taken in sorted order of their POSIX path relative to
    `root` (relative paths in `exclude` are skipped; symbolic links are neither
    followed nor hashed). For each file the digest is fed
    `path as UTF-8` + b"\\0" + `size as 8-byte big-endian` + `content`.
    The size prefix makes the encoding unambiguous.
    """
    files = sorted(
        (path.relative_to(root).as_posix(), path)
        for path in root.rglob("*")
        if path.is_file() and not path.is_symlink()
    )
    files = [(rel, path) for rel, path in files if rel not in exclude]
    if not files:
        return ""
    digest = hashlib.sha256()
    for rel, path in files:
        digest.update(rel.encode("utf-8") + b"\0")
        digest.update(path.stat().st_size.to_bytes(8, "big"))
        _feed_file(digest, path)
    return digest.hexdigest()


def sha256_file(path: Path) -> str:
    """sha256 of one file's content."""
    digest = hashlib.sha256()
    _feed_file(digest, path)
    return digest.hexdigest()


def _feed_file(digest: Any, path: Path) -> None:
    with path.open("rb") as f:
        while block := f.read(1 << 20):
            digest.update(block)


def describe_exit(returncode: int) -> tuple[int, str]:
    """(exit code to report, description) of a returncode; signals read as 128+N."""
    if returncode >= 0:
        return returncode, f"exited with code {returncode}"
    signum = -returncode
    try:
        name = signal.Signals(signum).name
    except ValueError:
        name = f"signal {signum}"
    return 128 + signum, f"killed by signal {name} ({signum})"


# --- the script runner ------------------------------------------------------------------


class _RequirementsFailed(Exception):
    """The script's requirements could not be installed."""


@dataclass(frozen=True)
class Launch:
    """What to write and how to start it."""

    entrypoint: str
    interpreter: str
    args: list[str]
    #: The Python environment of the script's requirements; None: the agent's own Python.
    environment: Path | None = None

    @property
    def argv(self) -> list[str]:
        command = _INTERPRETERS[self.interpreter]
        if self.environment is not None and self.interpreter == "python":
            command = [str(self.environment / "bin" / "python"), *command[1:]]
        return [*command, self.entrypoint, *self.args]

    def env(self, base: dict[str, str]) -> dict[str, str]:
        """The process environment: inside the requirements' environment when there is one."""
        if self.environment is None:
            return base
        bin_dir = str(self.environment / "bin")
        return {**base, "VIRTUAL_ENV": str(self.environment), "PATH": f"{bin_dir}:{base.get('PATH', '')}"}

    @property
    def display(self) -> str:
        return shlex.join([self.interpreter, self.entrypoint, *self.args])


def plan_launch(spec: task_pb2.ScriptSpec) -> Launch:
    """Check the entry point and interpreter; raises `SpecError` with the reason."""
    script = script_from_proto(spec)
    entrypoint = validate_entrypoint(script.entrypoint)
    return Launch(entrypoint=entrypoint, interpreter=script.launch_interpreter(), args=list(script.args))


class ScriptRunner(Runner):
    """Runs `spec.source` with python or bash in `ctx.workdir`.

    stdout and stderr are reported line by line as they are printed. Exit code 0
    completes; anything else fails. Pause and resume are SIGSTOP and SIGCONT to
    the process group; stop is SIGTERM, then SIGKILL after `grace_seconds`;
    cancel is SIGKILL. The time limit counts wall-clock time from the start,
    paused time included.
    """

    def __init__(
        self,
        spec: task_pb2.ScriptSpec,
        ctx: RunContext,
        reporter: TaskReporter,
        *,
        grace_seconds: float = DEFAULT_GRACE_SECONDS,
    ) -> None:
        self._spec = spec
        self._ctx = ctx
        self._reporter = reporter
        self._grace = grace_seconds
        self._log = structlog.get_logger().bind(task_id=ctx.task_id, attempt=ctx.attempt, runner="script")
        self._child: ChildProcess | None = None
        self._ending: Ending | None = None
        self._finished = False
        self._want_paused = False
        self._is_paused = False
        self._terminator: asyncio.Task[None] | None = None

    async def run(self) -> Outcome:
        try:
            launch = plan_launch(self._spec)
        except SpecError as exc:
            return self._finish(Outcome(FinalState.FAILED, exit_code=-1, error=str(exc)))
        if self._spec.requirements.strip():
            try:
                launch = replace(launch, environment=await self._environment())
            except _RequirementsFailed as exc:
                return self._finish(Outcome(FinalState.FAILED, exit_code=-1, error=str(exc)))
        if self._ending is not None:
            return self._finish(Outcome(FinalState.CANCELLED, error=f"{self._ending.value} before it started"))
        try:
            (self._ctx.workdir / launch.entrypoint).write_text(self._spec.source, encoding="utf-8")
        except OSError as exc:
            return self._finish(Outcome(FinalState.FAILED, exit_code=-1, error=f"cannot write {launch.entrypoint}: {exc}"))
        self._reporter.log(LogSource.SYSTEM, f"starting: {launch.display}")
        self._log.info("script starting", argv=launch.argv)
        try:
            proc = await asyncio.create_subprocess_exec(
                *launch.argv,
                cwd=self._ctx.workdir,
                env=launch.env(task_env(self._ctx, dict(self._spec.env))),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                start_new_session=True,
            )
        except OSError as exc:
            return self._finish(Outcome(FinalState.FAILED, exit_code=-1, error=f"cannot start {launch.argv[0]}: {exc}"))
        child = ChildProcess(proc)
        try:
            return await self._supervise(child, launch)
        except asyncio.CancelledError:
            # The agent dropped the attempt: the process must not outlive it.
            child.signal_group(signal.SIGKILL)
            child.reap_group()
            raise

    async def _environment(self) -> Path:
        """The Python environment with the spec's requirements installed (made once per requirements)."""
        from agent.runners.environments import RequirementsError

        if self._ctx.environments is None:
            raise _RequirementsFailed("this agent has no place for Python environments; requirements cannot be installed")
        try:
            return await self._ctx.environments.ensure(
                self._spec.requirements, lambda text: self._reporter.log(LogSource.SYSTEM, text)
            )
        except RequirementsError as exc:
            raise _RequirementsFailed(str(exc)) from exc

    async def _supervise(self, child: ChildProcess, launch: Launch) -> Outcome:
        self._child = child
        assert child.proc.stdout is not None and child.proc.stderr is not None
        pumps = [
            asyncio.create_task(pump_lines(child.proc.stdout, lambda t: self._reporter.log(LogSource.STDOUT, t))),
            asyncio.create_task(pump_lines(child.proc.stderr, lambda t: self._reporter.log(LogSource.STDERR, t))),
        ]
        self._apply_early_requests()
        limit = self._ctx.time_limit_seconds
        if not await child.wait(limit if limit > 0 else None):
            self._end(Ending.TIME_LIMIT)
            await child.proc.wait()
        if self._terminator is not None:
            await self._terminator
        child.reap_group()
        await drain(pumps)
        exclude = frozenset({launch.entrypoint})
        sha = await asyncio.to_thread(hash_outputs, self._ctx.workdir, exclude)
        outcome = self._outcome(child.proc.returncode or 0)
        outcome.output_sha256 = sha
        return self._finish(outcome)

    def _apply_early_requests(self) -> None:
        """Carry out a stop, cancel or pause that came while the process was starting."""
        if self._ending is Ending.CANCEL:
            self._child.signal_group(signal.SIGKILL)  # type: ignore[union-attr]
        elif self._ending is not None:
            self._start_terminator()
        elif self._want_paused:
            self._pause_now()

    def _outcome(self, returncode: int) -> Outcome:
        exit_code, description = describe_exit(returncode)
        if self._ending is Ending.TIME_LIMIT:
            error = f"time limit of {self._ctx.time_limit_seconds} s exceeded"
            return Outcome(FinalState.FAILED, exit_code=exit_code, error=error)
        if self._ending is not None:
            return Outcome(FinalState.CANCELLED, exit_code=exit_code, error=f"{self._ending.value} ({description})")
        if returncode == 0:
            return Outcome(FinalState.COMPLETED, exit_code=0)
        return Outcome(FinalState.FAILED, exit_code=exit_code, error=description)

    def _finish(self, outcome: Outcome) -> Outcome:
        self._finished = True
        summary = outcome.error or "exited with code 0"
        self._reporter.log(LogSource.SYSTEM, f"ended {outcome.state.value}: {summary}")
        self._log.info("script ended", state=outcome.state.value, exit_code=outcome.exit_code, error=outcome.error)
        return outcome

    # --- control; each safe to call twice and after the end ---------------------------

    async def pause(self) -> None:
        self._want_paused = True
        if self._child is not None:
            self._pause_now()

    def _pause_now(self) -> None:
        child = self._child
        if self._is_paused or self._ending is not None or child is None or not child.running:
            return
        child.signal_group(signal.SIGSTOP)
        self._is_paused = True
        self._reporter.paused(True)

    async def resume(self) -> None:
        self._want_paused = False
        if not self._is_paused or self._child is None:
            return
        self._child.signal_group(signal.SIGCONT)
        self._is_paused = False
        self._reporter.paused(False)

    async def stop(self) -> None:
        if self._end(Ending.STOP) and self._terminator is not None:
            await self._terminator

    async def cancel(self) -> None:
        if self._finished:
            return
        self._ending = self._ending or Ending.CANCEL
        if self._child is not None:
            # Even while a stop is in its grace period: cancel means now.
            self._child.signal_group(signal.SIGKILL)

    def _end(self, why: Ending) -> bool:
        """Record why the run ends and start terminating; False when already ending or ended."""
        if self._finished or self._ending is not None:
            return False
        if self._child is not None and not self._child.running:
            return False
        self._ending = why
        if self._child is not None:
            self._start_terminator()
        return True

    def _start_terminator(self) -> None:
        if self._terminator is None and self._child is not None:
            self._terminator = asyncio.create_task(self._child.terminate(self._grace))

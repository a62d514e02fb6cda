"""The script runner: a task's source run as a subprocess in its own directory."""

from __future__ import annotations

import asyncio
import shlex
import signal
import sys
from dataclasses import dataclass, replace
from pathlib import Path

from agent.errors import RequirementsError
from agent.runners.base import FinalState, LogSource, Outcome, RunContext, TaskReporter, task_env
from agent.runners.child_runner import ChildRunner, Ending
from agent.runners.process import DEFAULT_GRACE_SECONDS, describe_exit, hash_outputs, spawn
from aifarm.v1 import task_pb2
from taskspec.errors import SpecError
from taskspec.proto import script_from_proto
from taskspec.script import validate_entrypoint

_INTERPRETERS = {"python": [sys.executable, "-u"], "bash": ["bash"]}


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


class ScriptRunner(ChildRunner):
    """Runs `spec.source` with python or bash in `ctx.workdir`.

    stdout and stderr are reported line by line as they are printed. Exit code 0
    completes; anything else fails. Pause and resume are SIGSTOP and SIGCONT to
    the process group; stop is SIGTERM, then SIGKILL after `grace_seconds`;
    cancel is SIGKILL. The time limit counts wall-clock time from the start,
    paused time included.
    """

    kind = "script"
    ok_summary = "exited with code 0"

    def __init__(
        self,
        spec: task_pb2.ScriptSpec,
        ctx: RunContext,
        reporter: TaskReporter,
        *,
        grace_seconds: float = DEFAULT_GRACE_SECONDS,
    ) -> None:
        super().__init__(ctx, reporter, grace_seconds=grace_seconds)
        self._spec = spec
        self._is_paused = False

    async def run(self) -> Outcome:
        try:
            launch = plan_launch(self._spec)
        except SpecError as exc:
            return self._finish(Outcome(FinalState.FAILED, exit_code=-1, error=str(exc)))
        if self._spec.requirements.strip():
            try:
                launch = replace(launch, environment=await self._environment())
            except RequirementsError as exc:
                return self._finish(Outcome(FinalState.FAILED, exit_code=-1, error=str(exc)))
        if (early := self._ended_before_start()) is not None:
            return early
        try:
            (self._ctx.workdir / launch.entrypoint).write_text(self._spec.source, encoding="utf-8")
        except OSError as exc:
            return self._finish(Outcome(FinalState.FAILED, exit_code=-1, error=f"cannot write {launch.entrypoint}: {exc}"))
        self._reporter.log(LogSource.SYSTEM, f"starting: {launch.display}")
        self._log.info("script starting", argv=launch.argv)
        try:
            ctx = self._ctx
            child = await spawn(launch.argv, cwd=ctx.workdir, env=launch.env(task_env(ctx, dict(self._spec.env))),
                                registry=ctx.children, task_id=ctx.task_id, attempt=ctx.attempt)  # fmt: skip
        except OSError as exc:
            return self._finish(Outcome(FinalState.FAILED, exit_code=-1, error=f"cannot start {launch.argv[0]}: {exc}"))
        limit = self._ctx.time_limit_seconds
        returncode = await self._watch(child, limit if limit > 0 else None)
        sha = await asyncio.to_thread(hash_outputs, self._ctx.workdir, frozenset({launch.entrypoint}))
        outcome = self._outcome(returncode)
        outcome.output_sha256 = sha
        return self._finish(outcome)

    async def _environment(self) -> Path:
        """The Python environment with the spec's requirements installed (made once per requirements)."""
        if self._ctx.environments is None:
            raise RequirementsError("this agent has no place for Python environments; requirements cannot be installed")
        return await self._ctx.environments.ensure(
            self._spec.requirements, lambda text: self._reporter.log(LogSource.SYSTEM, text)
        )

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

    def _on_stdout(self, line: str) -> None:
        self._reporter.log(LogSource.STDOUT, line)

    def _on_stderr(self, line: str) -> None:
        self._reporter.log(LogSource.STDERR, line)

    # --- how a script is paused and stopped: signals to its process group -------------

    async def _pause_child(self) -> None:
        if self._is_paused:
            return
        self._child.signal_group(signal.SIGSTOP)  # type: ignore[union-attr]
        self._is_paused = True
        self._reporter.paused(True)

    async def _resume_child(self) -> None:
        if not self._is_paused:
            return
        self._child.signal_group(signal.SIGCONT)  # type: ignore[union-attr]
        self._is_paused = False
        self._reporter.paused(False)

    async def _stop_child(self) -> None:
        self._start_terminator()

    async def stop(self) -> None:
        """SIGTERM, then SIGKILL after the grace period; returns once the script is gone."""
        await super().stop()
        if self._ending is Ending.STOP and self._terminator is not None:
            # Shielded: a caller that gives up waiting must not call off the SIGKILL.
            await asyncio.shield(self._terminator)

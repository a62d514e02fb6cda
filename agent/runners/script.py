"""The script runner: a task's source run as a subprocess in its own directory."""

from __future__ import annotations

import shlex
import sys
from dataclasses import dataclass, replace
from pathlib import Path

from agent.errors import RequirementsError
from agent.runners.base import FinalState, LogSource, Outcome, RunContext, TaskReporter, task_env
from agent.runners.process import DEFAULT_GRACE_SECONDS
from agent.runners.program import ProgramRunner
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


class ScriptRunner(ProgramRunner):
    """Runs `spec.source` with python or bash in `ctx.workdir` (agent.runners.program says how it
    is watched and controlled)."""

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
        env = launch.env(task_env(self._ctx, dict(self._spec.env)))
        return await self._run_program(launch.argv, cwd=self._ctx.workdir, env=env, display=launch.display,
                                       not_outputs=frozenset({launch.entrypoint}))  # fmt: skip

    async def _environment(self) -> Path:
        """The Python environment with the spec's requirements installed (made once per requirements)."""
        if self._ctx.environments is None:
            raise RequirementsError("this agent has no place for Python environments; requirements cannot be installed")
        return await self._ctx.environments.ensure(
            self._spec.requirements, lambda text: self._reporter.log(LogSource.SYSTEM, text)
        )

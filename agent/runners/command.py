"""The command runner: a program exec'd straight from its argv, no shell and no interpreter.

What `sbatch --wrap` does, minus the shell: trivial work costs a fork and an exec. The program
is found on the PATH the task runs with (the agent's, or the spec's `env` PATH) unless argv[0]
holds a "/"; it runs in the attempt's working directory, or the spec's directory inside it.
Logs, exit code, pause, stop, cancel and the time limit are the script runner's
(agent.runners.program).
"""

from __future__ import annotations

import errno
import os
import shlex

from agent.runners.base import FinalState, Outcome, RunContext, TaskReporter, task_env
from agent.runners.process import DEFAULT_GRACE_SECONDS
from agent.runners.program import ProgramRunner
from aifarm.v1 import task_pb2
from taskspec.errors import SpecError
from taskspec.proto import command_from_proto
from taskspec.command import working_directory_parts


class CommandRunner(ProgramRunner):
    kind = "command"
    ok_summary = "exited with code 0"

    def __init__(
        self,
        spec: task_pb2.CommandSpec,
        ctx: RunContext,
        reporter: TaskReporter,
        *,
        grace_seconds: float = DEFAULT_GRACE_SECONDS,
    ) -> None:
        super().__init__(ctx, reporter, grace_seconds=grace_seconds)
        self._spec = command_from_proto(spec)

    async def run(self) -> Outcome:
        spec, ctx = self._spec, self._ctx
        try:
            spec.validate()  # the controller did; an agent runs nothing it was not meant to
            cwd = ctx.workdir.joinpath(*working_directory_parts(spec.working_directory))
        except SpecError as exc:
            return self._finish(Outcome(FinalState.FAILED, exit_code=-1, error=str(exc)))
        if (early := self._ended_before_start()) is not None:
            return early
        if cwd != ctx.workdir:
            try:
                cwd.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                error = f"cannot make the working directory {spec.working_directory!r}: {exc}"
                return self._finish(Outcome(FinalState.FAILED, exit_code=-1, error=error))
        argv = list(spec.argv)
        return await self._run_program(argv, cwd=cwd, env=task_env(ctx, spec.env), display=shlex.join(argv))

    def _cannot_start(self, argv: list[str], env: dict[str, str], exc: OSError) -> str:
        program = argv[0]
        if "/" not in program and exc.errno == errno.ENOENT:
            path = env.get("PATH", os.defpath)
            return (f"program {program!r} was not found on this node's PATH ({path}): install it on the node,"
                    " give its full path as argv[0], or set PATH in the task's env")  # fmt: skip
        if exc.errno == errno.ENOENT:
            return f"program {program!r} does not exist on this node (relative paths start in the working directory)"
        if exc.errno == errno.EACCES:
            return (f"program {program!r} is not executable here: make it executable (chmod +x) or run it with"
                    " its interpreter")  # fmt: skip
        return f"cannot start {program}: {exc}"

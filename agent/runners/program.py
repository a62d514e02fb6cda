"""What the script and command runners share: a plain program as the attempt's one child.

Its stdout and stderr lines are the task's log, its exit code is the outcome (0 completes,
anything else fails), and it is controlled by signals to its process group: pause and
resume are SIGSTOP and SIGCONT, stop is SIGTERM then SIGKILL after the grace period,
cancel is SIGKILL. The time limit counts wall-clock time from the start, paused time included.
"""

from __future__ import annotations

import asyncio
import errno
import os
import signal
from pathlib import Path

from agent.runners.base import FinalState, LogSource, Outcome, RunContext, TaskReporter
from agent.runners.child_runner import ChildRunner, Ending
from agent.runners.process import describe_exit, hash_outputs, missing_program, spawn


def _holds_outputs(workdir: Path, not_outputs: frozenset[str]) -> bool:
    """Whether the directory holds anything but `not_outputs` (one directory read)."""
    with os.scandir(workdir) as entries:
        return any(entry.name not in not_outputs for entry in entries)


class ProgramRunner(ChildRunner):
    def __init__(self, ctx: RunContext, reporter: TaskReporter, *, grace_seconds: float) -> None:
        super().__init__(ctx, reporter, grace_seconds=grace_seconds)
        self._is_paused = False

    async def _run_program(self, argv: list[str], *, cwd: Path, env: dict[str, str], display: str,
                           not_outputs: frozenset[str] = frozenset()) -> Outcome:  # fmt: skip
        """Start `argv`, watch it to its end, and say how it ended (one that cannot start fails, saying
        why); `not_outputs` are files of the working directory left out of the output hash."""
        ctx = self._ctx
        self._reporter.log(LogSource.SYSTEM, f"starting: {display}")
        self._log.info(f"{self.kind} starting", argv=argv)
        try:
            child = await spawn(argv, cwd=cwd, env=env, registry=ctx.children, task_id=ctx.task_id,
                                attempt=ctx.attempt)  # fmt: skip
        except OSError as exc:
            return self._finish(Outcome(FinalState.FAILED, exit_code=-1, error=self._cannot_start(argv, env, exc)))
        limit = ctx.time_limit_seconds
        returncode = await self._watch(child, limit if limit > 0 else None)
        if self._ending is None and missing_program(argv, returncode, env):
            not_found = FileNotFoundError(errno.ENOENT, "no such executable", argv[0])
            error = self._cannot_start(argv, env, not_found)
            return self._finish(Outcome(FinalState.FAILED, exit_code=-1, error=error))
        outcome = self._outcome(returncode)
        # Most trivial work leaves nothing: no thread is needed to hash nothing.
        if _holds_outputs(ctx.workdir, not_outputs):
            outcome.output_sha256 = await asyncio.to_thread(hash_outputs, ctx.workdir, not_outputs)
        return self._finish(outcome)

    def _cannot_start(self, argv: list[str], env: dict[str, str], exc: OSError) -> str:
        """The error of a program that could not be started."""
        return f"cannot start {argv[0]}: {exc}"

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

    # --- how a program is paused and stopped: signals to its process group -------------

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
        """SIGTERM, then SIGKILL after the grace period; returns once the program is gone."""
        await super().stop()
        if self._ending is Ending.STOP and self._terminator is not None:
            # Shielded: a caller that gives up waiting must not call off the SIGKILL.
            await asyncio.shield(self._terminator)

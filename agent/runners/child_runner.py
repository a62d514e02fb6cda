"""What the script and training runners share: one child process watched to its end,
and the bookkeeping of pause, resume, stop and cancel around it.

A control may come at any time: before the child has started (it is remembered
and carried out once the child is there), while it runs, or after the run ended
(a no-op). A subclass says how to pause, resume and stop its kind of child;
cancel is always SIGKILL to the child's process group.
"""

from __future__ import annotations

import abc
import asyncio
import enum
import signal
from typing import ClassVar

import structlog

from agent.runners.base import FinalState, LogSource, Outcome, RunContext, Runner, TaskReporter
from agent.runners.process import ChildProcess, drain, pump_lines


class Ending(enum.Enum):
    """Why the agent, rather than the process itself, ended a run."""

    STOP = "stopped"
    CANCEL = "cancelled"
    TIME_LIMIT = "time limit"


class ChildRunner(Runner):
    #: Names the runner in logs ("script ended").
    kind: ClassVar[str]
    #: The end line's summary of a run that ended without an error.
    ok_summary: ClassVar[str]

    def __init__(self, ctx: RunContext, reporter: TaskReporter, *, grace_seconds: float) -> None:
        self._ctx = ctx
        self._reporter = reporter
        self._grace = grace_seconds
        self._log = structlog.get_logger().bind(task_id=ctx.task_id, attempt=ctx.attempt, runner=self.kind)
        self._child: ChildProcess | None = None
        self._ending: Ending | None = None
        self._finished = False
        self._want_paused = False
        #: SIGTERM now, SIGKILL after the grace period; at most one per run.
        self._terminator: asyncio.Task[None] | None = None
        #: Helpers that die with the run (the training runner's stop escalation).
        self._background: list[asyncio.Task[None]] = []

    # --- what a subclass says about its child --------------------------------------

    @abc.abstractmethod
    async def _pause_child(self) -> None:
        """Pause the running child (called only while it runs and is not ending)."""

    @abc.abstractmethod
    async def _resume_child(self) -> None:
        """Let a paused child go on (a no-op when it is not paused)."""

    @abc.abstractmethod
    async def _stop_child(self) -> None:
        """Start ending the running child gracefully; must not wait for it to exit."""

    @abc.abstractmethod
    def _on_stdout(self, line: str) -> None: ...

    @abc.abstractmethod
    def _on_stderr(self, line: str) -> None: ...

    # --- the run -------------------------------------------------------------------

    def _ended_before_start(self) -> Outcome | None:
        """The outcome of a run stopped or cancelled before its child started; None otherwise."""
        if self._ending is None:
            return None
        return self._finish(Outcome(FinalState.CANCELLED, error=f"{self._ending.value} before it started"))

    async def _watch(self, child: ChildProcess, timeout: float | None) -> int:
        """Run `child` to its end and return its returncode: its pipes pumped, requests that
        came early carried out, the time limit (`timeout` seconds; None: none) kept."""
        self._child = child
        assert child.proc.stdout is not None and child.proc.stderr is not None
        pumps = [asyncio.create_task(pump_lines(child.proc.stdout, self._on_stdout)),
                 asyncio.create_task(pump_lines(child.proc.stderr, self._on_stderr))]  # fmt: skip
        try:
            await self._apply_early_requests()
            if not await child.wait(timeout):
                if self._ending is None:
                    self._ending = Ending.TIME_LIMIT
                self._start_terminator()
                await child.proc.wait()
            if self._terminator is not None:
                await self._terminator  # the leader is gone: this ends at once
            child.reap_group()
            await drain(pumps)
        except asyncio.CancelledError:
            # The agent dropped the attempt: the process must not outlive it.
            child.signal_group(signal.SIGKILL)
            child.reap_group()
            for pump in pumps:
                pump.cancel()
            raise
        finally:
            for task in self._background:
                task.cancel()
        return child.proc.returncode or 0

    async def _apply_early_requests(self) -> None:
        """Carry out a stop, cancel or pause that came while the child was starting."""
        if self._ending is Ending.CANCEL:
            self._child.signal_group(signal.SIGKILL)  # type: ignore[union-attr]
        elif self._ending is not None:
            await self._stop_child()
        elif self._want_paused:
            await self._pause_child()

    def _finish(self, outcome: Outcome) -> Outcome:
        self._finished = True
        summary = outcome.error.splitlines()[0] if outcome.error else self.ok_summary
        self._reporter.log(LogSource.SYSTEM, f"ended {outcome.state.value}: {summary}")
        self._log.info(f"{self.kind} ended", state=outcome.state.value, exit_code=outcome.exit_code,
                       error=outcome.error)  # fmt: skip
        return outcome

    def _start_terminator(self) -> None:
        if self._terminator is None and self._child is not None:
            self._terminator = asyncio.create_task(self._child.terminate(self._grace))

    # --- control; each safe to call twice and after the end ---------------------------

    async def pause(self) -> None:
        self._want_paused = True
        child = self._child
        if child is not None and child.running and self._ending is None:
            await self._pause_child()

    async def resume(self) -> None:
        self._want_paused = False
        if self._child is not None:
            await self._resume_child()

    async def stop(self) -> None:
        if self._finished or self._ending is not None:
            return
        if self._child is not None and not self._child.running:
            return  # it already ended by itself; the stop came too late to matter
        self._ending = Ending.STOP
        if self._child is not None:
            await self._stop_child()

    async def cancel(self) -> None:
        if self._finished:
            return
        self._ending = self._ending or Ending.CANCEL
        if self._child is not None:
            # Even while a stop is in its grace period: cancel means now.
            self._child.signal_group(signal.SIGKILL)

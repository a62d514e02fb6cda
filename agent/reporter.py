"""Turns what a runner reports into sequenced messages in the outbox.

Log lines are batched (a batch goes out every LOG_FLUSH_SECONDS or at
LOG_BATCH_LINES), progress-only updates are coalesced, and any pending lines
are flushed before a state change so the controller sees them in order.
"""

from __future__ import annotations

from google.protobuf import timestamp_pb2

from agent.clock import Clock, LoopClock, Timer
from agent.outbox import Outbox
from agent.runners.base import LogSource
from aifarm.v1 import agent_service_pb2 as pb
from aifarm.v1 import task_pb2

LOG_FLUSH_SECONDS = 0.1
LOG_BATCH_LINES = 200
PROGRESS_MIN_INTERVAL = 0.25
MAX_LINE_CHARS = 16_384

STREAMS = {
    LogSource.STDOUT: task_pb2.LOG_STREAM_STDOUT,
    LogSource.STDERR: task_pb2.LOG_STREAM_STDERR,
    LogSource.SYSTEM: task_pb2.LOG_STREAM_SYSTEM,
}


def _now() -> timestamp_pb2.Timestamp:
    ts = timestamp_pb2.Timestamp()
    ts.GetCurrentTime()
    return ts


class AttemptReporter:
    """Implements agent.runners.base.TaskReporter for one task attempt."""

    def __init__(self, outbox: Outbox, task_id: str, attempt: int, *, clock: Clock | None = None) -> None:
        self.outbox = outbox
        self.task_id = task_id
        self.attempt = attempt
        self.fraction = 0.0
        self._clock = clock or LoopClock()
        self._line_no = 0
        self._lines: list[task_pb2.LogLine] = []
        self._flush_handle: Timer | None = None
        #: When the last progress-only update went out (None: none yet, so the first goes at once).
        self._last_progress: float | None = None

    # TaskReporter -------------------------------------------------------------

    def log(self, source: LogSource, text: str) -> None:
        self._line_no += 1
        self._lines.append(
            task_pb2.LogLine(seq=self._line_no, attempt=self.attempt, stream=STREAMS[source],
                             text=text[:MAX_LINE_CHARS], time=_now())  # fmt: skip
        )
        if len(self._lines) >= LOG_BATCH_LINES:
            self.flush_logs()
        elif self._flush_handle is None:
            self._flush_handle = self._clock.call_later(LOG_FLUSH_SECONDS, self.flush_logs)

    def progress(self, fraction: float) -> None:
        self.fraction = fraction
        now = self._clock.monotonic()
        if self._last_progress is None or now - self._last_progress >= PROGRESS_MIN_INTERVAL or fraction >= 1.0:
            self._last_progress = now
            self.update()

    def metric(self, epoch: int, values: dict[str, float]) -> None:
        self.update(metric=task_pb2.MetricPoint(attempt=self.attempt, epoch=epoch, values=values, time=_now()))

    def paused(self, is_paused: bool) -> None:
        state = task_pb2.TASK_STATE_PAUSED if is_paused else task_pb2.TASK_STATE_RUNNING
        self.update(state=state, reason="paused by user" if is_paused else "")

    # Used by the supervisor ---------------------------------------------------

    def update(self, **fields: object) -> int:
        self.flush_logs()
        message = pb.TaskUpdate(task_id=self.task_id, attempt=self.attempt, progress=self.fraction, time=_now(),
                                **fields)  # type: ignore[arg-type]  # fmt: skip
        return self.outbox.put_update(message)

    def flush_logs(self) -> None:
        if self._flush_handle is not None:
            self._flush_handle.cancel()
            self._flush_handle = None
        if self._lines:
            batch = pb.TaskLogBatch(task_id=self.task_id, attempt=self.attempt, lines=self._lines)
            self._lines = []
            self.outbox.put_logs(batch)

"""AttemptReporter on a real Outbox, with time driven by hand: log batching and flushes,
progress coalescing, and lines flushed ahead of a state change."""

from __future__ import annotations

from agent.outbox import Outbox
from agent.reporter import LOG_BATCH_LINES, LOG_FLUSH_SECONDS, PROGRESS_MIN_INTERVAL, AttemptReporter
from agent.runners.base import LogSource
from aifarm.v1 import task_pb2
from manual_clock import ManualClock


def _sent(outbox: Outbox) -> list[str]:
    """What is waiting in the outbox, each message by kind ("logs:N" with its line count)."""
    out = []
    for _, message in outbox.after(0):
        if message.WhichOneof("message") == "log_batch":
            out.append(f"logs:{len(message.log_batch.lines)}")
        else:
            out.append(f"update:{task_pb2.TaskState.Name(message.task_update.state)}")
    return out


async def test_lines_go_out_together_once_the_flush_interval_passes() -> None:
    clock, outbox = ManualClock(), Outbox()
    reporter = AttemptReporter(outbox, "t", 1, clock=clock)
    reporter.log(LogSource.STDOUT, "one")
    await clock.advance(LOG_FLUSH_SECONDS / 2)
    reporter.log(LogSource.STDERR, "two")
    assert _sent(outbox) == [], "held back until the interval since the first line passed"
    await clock.advance(LOG_FLUSH_SECONDS / 2)
    assert _sent(outbox) == ["logs:2"]
    lines = outbox.after(0)[0][1].log_batch.lines
    assert [(ln.seq, ln.text, ln.stream) for ln in lines] == [(1, "one", task_pb2.LOG_STREAM_STDOUT),
                                                              (2, "two", task_pb2.LOG_STREAM_STDERR)]  # fmt: skip
    await clock.advance(10 * LOG_FLUSH_SECONDS)
    assert _sent(outbox) == ["logs:2"], "nothing more without new lines"


async def test_a_full_batch_goes_at_once() -> None:
    clock, outbox = ManualClock(), Outbox()
    reporter = AttemptReporter(outbox, "t", 1, clock=clock)
    for i in range(LOG_BATCH_LINES + 3):
        reporter.log(LogSource.STDOUT, f"line {i}")
    assert _sent(outbox) == [f"logs:{LOG_BATCH_LINES}"]
    assert clock.due == [clock.now + LOG_FLUSH_SECONDS], "the rest waits for the next flush"
    await clock.advance(LOG_FLUSH_SECONDS)
    assert _sent(outbox) == [f"logs:{LOG_BATCH_LINES}", "logs:3"]


async def test_progress_is_coalesced_but_the_last_word_is_kept() -> None:
    clock, outbox = ManualClock(), Outbox()
    reporter = AttemptReporter(outbox, "t", 1, clock=clock)
    reporter.progress(0.1)  # the first goes at once
    for fraction in (0.2, 0.3, 0.4):
        await clock.advance(PROGRESS_MIN_INTERVAL / 4)
        reporter.progress(fraction)
    assert [round(m.task_update.progress, 2) for _, m in outbox.after(0)] == [0.1]
    await clock.advance(PROGRESS_MIN_INTERVAL)
    reporter.progress(0.5)
    reporter.progress(1.0)  # done always goes out
    assert [round(m.task_update.progress, 2) for _, m in outbox.after(0)] == [0.1, 0.5, 1.0]


async def test_pending_lines_go_out_before_a_state_change() -> None:
    clock, outbox = ManualClock(), Outbox()
    reporter = AttemptReporter(outbox, "t", 1, clock=clock)
    reporter.log(LogSource.STDOUT, "last words")
    reporter.update(state=task_pb2.TASK_STATE_COMPLETED)
    assert _sent(outbox) == ["logs:1", "update:TASK_STATE_COMPLETED"]
    assert clock.due == [], "the flush timer was called off"

"""agent.connection.report_frames: the outbox's messages in ReportBatch frames, in order, none too large."""

from __future__ import annotations

from agent.connection import MAX_BATCH_BYTES, report_frames
from aifarm.v1 import agent_service_pb2 as pb
from aifarm.v1 import task_pb2


def outbox(count: int, text: str = "x") -> list[tuple[int, pb.ConnectRequest]]:
    messages = []
    for seq in range(1, count + 1):
        if seq % 2:
            message = pb.ConnectRequest(task_update=pb.TaskUpdate(seq=seq, task_id="t", attempt=1, progress=seq / count))
        else:
            lines = [task_pb2.LogLine(seq=seq, text=text)]
            message = pb.ConnectRequest(log_batch=pb.TaskLogBatch(seq=seq, task_id="t", attempt=1, lines=lines))
        messages.append((seq, message))
    return messages


def seqs(frames: list[pb.ConnectRequest]) -> list[list[int]]:
    return [[getattr(r, r.WhichOneof("report")).seq for r in f.reports.reports] for f in frames]


def test_what_waits_goes_in_one_frame_in_order() -> None:
    frames = list(report_frames(outbox(5)))
    assert [f.WhichOneof("message") for f in frames] == ["reports"]
    assert seqs(frames) == [[1, 2, 3, 4, 5]]
    assert list(report_frames([])) == []


def test_frames_stop_growing_at_the_size_limit() -> None:
    big = "y" * (MAX_BATCH_BYTES // 3)
    frames = list(report_frames(outbox(8, big)))
    assert [s for frame in seqs(frames) for s in frame] == list(range(1, 9)), "every message once, in order"
    assert len(frames) > 1 and all(f.ByteSize() <= MAX_BATCH_BYTES + 1024 for f in frames)

"""The outbox's file: what is put survives a reopen, in order; what is acked does not; a torn
write at the end is ignored and cut off; compaction keeps what is live; one agent at a time."""

from __future__ import annotations

import os
import struct
from pathlib import Path

import pytest

from agent import outbox_store
from agent.outbox import Outbox
from agent.outbox_store import MAGIC, OutboxInUse, OutboxStore
from aifarm.v1 import agent_service_pb2 as pb
from aifarm.v1 import task_pb2


def _reopen(path: Path) -> tuple[OutboxStore, outbox_store.Recovered]:
    return OutboxStore.open(path)


def test_a_new_file_starts_empty_with_its_header(tmp_path: Path) -> None:
    store, recovered = _reopen(tmp_path / "outbox.log")
    assert (recovered.messages, recovered.last_seq, recovered.torn_bytes) == ([], 0, 0)
    store.close()
    assert (tmp_path / "outbox.log").read_bytes() == MAGIC
    assert (tmp_path / "outbox.log").stat().st_mode & 0o777 == 0o600


def test_messages_come_back_in_order_and_acked_ones_do_not(tmp_path: Path) -> None:
    path = tmp_path / "outbox.log"
    store, _ = _reopen(path)
    for seq in range(1, 6):
        store.append(seq, f"message {seq}".encode())
    store.ack(2)
    store.close()
    store, recovered = _reopen(path)
    assert recovered.messages == [(3, b"message 3"), (4, b"message 4"), (5, b"message 5")]
    assert (recovered.last_seq, recovered.acked) == (5, 2)
    store.ack(5)
    store.close()
    _, recovered = _reopen(path)
    assert recovered.messages == [] and recovered.last_seq == 5, "the numbering goes on after everything was acked"


def test_a_torn_write_at_the_end_is_ignored_and_cut_off(tmp_path: Path) -> None:
    path = tmp_path / "outbox.log"
    store, _ = _reopen(path)
    store.append(1, b"whole")
    store.append(2, b"also whole")
    store.close()
    whole = path.stat().st_size
    # A third record cut short by a crash in the middle of its write.
    record = outbox_store._record(outbox_store.KIND_MESSAGE, 3, b"cut short" * 10)
    with path.open("ab") as f:
        f.write(record[: len(record) // 2])
    store, recovered = _reopen(path)
    assert recovered.messages == [(1, b"whole"), (2, b"also whole")]
    assert recovered.torn_bytes == len(record) // 2 and path.stat().st_size == whole
    store.append(3, b"after the tear")  # follows the last whole record, not the torn bytes
    store.close()
    _, recovered = _reopen(path)
    assert [seq for seq, _ in recovered.messages] == [1, 2, 3]


def test_a_last_record_with_a_bad_checksum_is_ignored(tmp_path: Path) -> None:
    path = tmp_path / "outbox.log"
    store, _ = _reopen(path)
    store.append(1, b"good")
    store.append(2, b"flipped")
    store.close()
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF  # one byte of the last payload, as a torn sector would leave it
    path.write_bytes(bytes(data))
    _, recovered = _reopen(path)
    assert recovered.messages == [(1, b"good")] and recovered.torn_bytes > 0


def test_a_header_torn_at_the_first_write_starts_over(tmp_path: Path) -> None:
    path = tmp_path / "outbox.log"
    path.write_bytes(MAGIC[:5])
    store, recovered = _reopen(path)
    assert recovered.messages == []
    store.close()
    assert path.read_bytes() == MAGIC


def test_a_file_that_is_not_an_outbox_is_moved_aside(tmp_path: Path) -> None:
    path = tmp_path / "outbox.log"
    path.write_bytes(b"something else entirely\n")
    store, recovered = _reopen(path)
    store.close()
    assert recovered.messages == [] and path.read_bytes() == MAGIC
    assert [p.read_bytes() for p in tmp_path.glob("outbox.log.unreadable-*")] == [b"something else entirely\n"]


def test_compaction_keeps_the_live_records_and_the_numbering(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(outbox_store, "COMPACT_MIN_BYTES", 4096)
    path = tmp_path / "outbox.log"
    store, _ = _reopen(path)
    payload = b"x" * 100
    for seq in range(1, 201):
        store.append(seq, payload)
        if seq > 3:
            store.ack(seq - 3)  # three in flight, like a live stream
    assert store.size < 4096 + 10 * len(payload), "acked records were compacted away"
    store.close()
    _, recovered = _reopen(path)
    assert [seq for seq, _ in recovered.messages] == [198, 199, 200]
    assert all(p == payload for _, p in recovered.messages) and recovered.last_seq == 200
    assert not list(tmp_path.glob("*.compacting"))


def test_a_second_agent_on_the_same_file_is_refused(tmp_path: Path) -> None:
    store, _ = _reopen(tmp_path / "outbox.log")
    with pytest.raises(OutboxInUse, match="data directory"):
        _reopen(tmp_path / "outbox.log")
    store.close()
    store.close()  # twice is fine
    again, _ = _reopen(tmp_path / "outbox.log")
    again.close()


def test_a_full_disk_leaves_the_outbox_working_in_memory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "outbox.log"
    store, _ = _reopen(path)
    store.append(1, b"on disk")
    pwrite = os.pwrite

    def full(fd: int, data: bytes, offset: int) -> int:
        pwrite(fd, bytes(data)[:3], offset)  # part of it made it, then the disk was full
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(outbox_store.os, "pwrite", full)
    store.append(2, b"not on disk")
    store.sync()
    monkeypatch.undo()
    store.close()
    _, recovered = _reopen(path)
    assert recovered.messages == [(1, b"on disk")] and recovered.torn_bytes == 0


# --- the outbox over its file -----------------------------------------------------------


def _update(task_id: str, state: int = 0) -> pb.TaskUpdate:
    return pb.TaskUpdate(task_id=task_id, attempt=1, state=state)  # type: ignore[arg-type]


def test_the_outbox_replays_what_a_previous_run_left_and_numbers_on(tmp_path: Path) -> None:
    path = tmp_path / "outbox.log"
    first = Outbox.open(path)
    first.put_update(_update("a", task_pb2.TASK_STATE_RUNNING))
    first.put_logs(pb.TaskLogBatch(task_id="a", attempt=1, lines=[task_pb2.LogLine(seq=1, text="hello")]))
    first.put_update(_update("a", task_pb2.TASK_STATE_COMPLETED))
    first.ack(1)
    # The agent is killed here: nothing is closed.
    first._store._fd, fd = -1, first._store._fd  # type: ignore[union-attr]
    os.close(fd)

    second = Outbox.open(path)
    replay = second.after(0)
    assert [seq for seq, _ in replay] == [2, 3]
    assert replay[0][1].log_batch.lines[0].text == "hello"
    assert replay[1][1].task_update.state == task_pb2.TASK_STATE_COMPLETED
    assert not second.is_acked(2) and second.is_acked(1)
    assert second.put_update(_update("b")) == 4
    second.ack(4)
    second.close()
    assert Outbox.open(path).after(0) == []


async def test_sync_waits_for_the_disk_and_is_a_no_op_in_memory(tmp_path: Path) -> None:
    durable, memory = Outbox.open(tmp_path / "outbox.log"), Outbox()
    for outbox in (durable, memory):
        outbox.put_update(_update("a"))
        await outbox.sync()
    durable.close()
    memory.close()
    assert struct.unpack(">I", (tmp_path / "outbox.log").read_bytes()[len(MAGIC) : len(MAGIC) + 4])[0] > 0

"""The agent's outbox, in memory and on disk, side by side in one run.

    python bench/agent_outbox.py [--batches 5000] [--lines 20] [--updates 20000] [--finals 200]
                                 [--window 8] [--dir DIR] [--no-sqlite]

What the agent's outbox (agent/outbox.py) costs per message, with the same workload on:

* memory: `Outbox()`, as the agent had it before the outbox went to disk;
* file: `Outbox.open(path)`, the agent's now (agent/outbox_store.py): one pwrite per message
  and per ack, an fdatasync per attempt's end;
* sqlite (reference, not used by the agent): the stdlib's sqlite3 in WAL mode, one row per
  message inserted in its own transaction and deleted on its ack; synchronous=NORMAL for the
  hot path (like the file: it survives the process, not the machine), FULL for the ends.

Workloads, each timed on its own, with acks lagging `--window` messages behind the puts as on
a live stream:

* log batches: `--batches` TaskLogBatch messages of `--lines` lines of 80 characters (the
  reporter sends a batch per 0.1 s or 200 lines, so this is the hot path); lines/s;
* progress updates: `--updates` progress-only TaskUpdates; updates/s;
* attempt ends: `--finals` final updates, each followed by the sync the supervisor awaits
  before it reports the attempt ended; ends/s (the disk's fsync latency shows here).

The messages are built before the clock starts, so the figures are the outbox's own cost
(serialising and writing included). Printed: messages/s per store, the ratio to memory,
what the file adds per message in microseconds, and the size of the file afterwards (it
compacts once acked records outweigh live ones).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sqlite3
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "gen" / "python"))

import structlog  # noqa: E402
from google.protobuf import timestamp_pb2  # noqa: E402

from agent.outbox import Outbox  # noqa: E402
from aifarm.v1 import agent_service_pb2 as pb  # noqa: E402
from aifarm.v1 import task_pb2  # noqa: E402


class SqliteOutbox:
    """The reference: the same puts, acks and syncs on a stdlib SQLite table."""

    def __init__(self, path: Path) -> None:
        self.db = sqlite3.connect(path, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.execute("CREATE TABLE IF NOT EXISTS outbox (seq INTEGER PRIMARY KEY, message BLOB NOT NULL)")
        self._seq = 0

    def put_update(self, update: pb.TaskUpdate) -> int:
        self._seq += 1
        update.seq = self._seq
        return self._put(pb.ConnectRequest(task_update=update))

    def put_logs(self, batch: pb.TaskLogBatch) -> int:
        self._seq += 1
        batch.seq = self._seq
        return self._put(pb.ConnectRequest(log_batch=batch))

    def _put(self, message: pb.ConnectRequest) -> int:
        self.db.execute("INSERT INTO outbox (seq, message) VALUES (?, ?)", (self._seq, message.SerializeToString()))
        return self._seq

    def ack(self, seq: int) -> None:
        self.db.execute("DELETE FROM outbox WHERE seq <= ?", (seq,))

    async def sync(self) -> None:
        # What a synced end costs in SQLite: one commit with synchronous=FULL (an fsync of the WAL).
        self.db.execute("PRAGMA synchronous=FULL")
        self.db.execute("INSERT INTO outbox (seq, message) VALUES (?, x'')", (-self._seq,))
        self.db.execute("PRAGMA synchronous=NORMAL")

    def close(self) -> None:
        self.db.close()


def _now() -> timestamp_pb2.Timestamp:
    ts = timestamp_pb2.Timestamp()
    ts.GetCurrentTime()
    return ts


def _batch(lines: int, line_no: int) -> pb.TaskLogBatch:
    text = "x" * 80
    return pb.TaskLogBatch(task_id="bench", attempt=1, lines=[
        task_pb2.LogLine(seq=line_no + i, attempt=1, stream=task_pb2.LOG_STREAM_STDOUT, text=text, time=_now())
        for i in range(lines)])  # fmt: skip


async def _run(outbox, messages: list, window: int, sync: bool) -> float:
    """Seconds to put `messages` (built beforehand), acked `window` behind, each synced if `sync`."""
    sent: list[int] = []
    start = time.perf_counter()
    for message in messages:
        seq = outbox.put_logs(message) if isinstance(message, pb.TaskLogBatch) else outbox.put_update(message)
        sent.append(seq)
        if sync:
            await outbox.sync()
        if len(sent) > window:
            outbox.ack(sent[-window - 1])
    outbox.ack(sent[-1])
    return time.perf_counter() - start


async def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--batches", type=int, default=5000)
    p.add_argument("--lines", type=int, default=20)
    p.add_argument("--updates", type=int, default=20000)
    p.add_argument("--finals", type=int, default=200)
    p.add_argument("--window", type=int, default=8)
    p.add_argument("--dir", type=Path, default=None, help="where the files go (default: a temporary directory)")
    p.add_argument("--no-sqlite", action="store_true")
    args = p.parse_args()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))

    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        root = Path(tmp)
        stores: dict[str, Callable[[str], object]] = {
            "memory": lambda w: Outbox(),
            "file": lambda w: Outbox.open(root / f"{w}.log"),
        }
        if not args.no_sqlite:
            stores["sqlite (ref)"] = lambda w: SqliteOutbox(root / f"{w}.sqlite")
        workloads = [
            ("log batches", args.batches, args.lines, lambda i: _batch(args.lines, i * args.lines + 1), False),
            ("progress updates", args.updates, 1,
             lambda i: pb.TaskUpdate(task_id="bench", attempt=1, progress=i / args.updates, time=_now()), False),
            ("attempt ends (+sync)", args.finals, 1,
             lambda i: pb.TaskUpdate(task_id=f"t{i}", attempt=1, state=task_pb2.TASK_STATE_COMPLETED,
                                     result=task_pb2.TaskResult(exit_code=0), time=_now()), True),
        ]  # fmt: skip
        print(f"outbox benchmark: acks {args.window} behind the puts; files in {root}")
        header = (f"{'workload':<22}" + "".join(f"{name + ' msg/s':>20}" for name in stores)
                  + f"{'file/memory':>14}{'file +us/msg':>14}")  # fmt: skip
        print(header)
        sizes = {}
        for label, count, per_message, make, sync in workloads:
            rates = {}
            messages = [make(i) for i in range(count)]
            for name, open_store in stores.items():
                outbox = open_store(label.split()[0])
                seconds = await _run(outbox, messages, args.window, sync)
                rates[name] = count / seconds
                if name == "file":
                    sizes[label] = outbox._store.size  # type: ignore[attr-defined]
                outbox.close()
            row = f"{label:<22}" + "".join(f"{rates[n]:>20,.0f}" for n in stores)
            extra_us = 1e6 / rates["file"] - 1e6 / rates["memory"]
            print(row + f"{rates['file'] / rates['memory']:>14.2f}{extra_us:>14.1f}")
            if per_message > 1:
                print(f"{'  = lines/s':<22}" + "".join(f"{rates[n] * per_message:>20,.0f}" for n in stores))
        print("file size afterwards: " + ", ".join(f"{k}: {v:,} B" for k, v in sizes.items()))


if __name__ == "__main__":
    asyncio.run(main())

"""Updates waiting for the controller's acknowledgement.

Every task update, log batch and batch of profiling frames gets an agent-wide sequence number and stays
here until the controller acks it. After a reconnect everything unacked is
sent again; the controller ignores what it already stored, so nothing is lost
and nothing is applied twice.

Opened on a file (`Outbox.open`, the agent's), every message is also written to
disk before `put_*` returns (agent/outbox_store.py), so what was not acked
survives the agent itself: the next run of the agent starts with it pending,
replays it after its hello, and numbers new messages on from the last one.
Without a file (`Outbox()`) it lives in memory only.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from pathlib import Path

import structlog
from google.protobuf.message import DecodeError

from agent.outbox_store import OutboxStore, Recovered
from aifarm.v1 import agent_service_pb2 as pb

log = structlog.get_logger(__name__)


class Outbox:
    def __init__(self, store: OutboxStore | None = None, recovered: Recovered | None = None) -> None:
        self._store = store
        self._seq = recovered.last_seq if recovered else 0
        self._acked = recovered.acked if recovered else 0
        self._pending: OrderedDict[int, pb.ConnectRequest] = OrderedDict()
        for seq, payload in recovered.messages if recovered else ():
            try:
                self._pending[seq] = pb.ConnectRequest.FromString(payload)
            except DecodeError:
                log.warning("skipping an unreadable message in the outbox", seq=seq, size=len(payload))
        self._changed = asyncio.Event()

    @classmethod
    def open(cls, path: Path) -> Outbox:
        """The outbox kept in `path`, with what a previous run left unacknowledged pending.

        Raises agent.outbox_store.OutboxInUse while another agent has it open."""
        store, recovered = OutboxStore.open(path)
        outbox = cls(store, recovered)
        if outbox._pending:
            log.info("the outbox holds updates a previous run did not get acknowledged; they will be replayed",
                     messages=len(outbox._pending), first_seq=next(iter(outbox._pending)),
                     last_seq=recovered.last_seq)  # fmt: skip
        return outbox

    def put_update(self, update: pb.TaskUpdate) -> int:
        self._seq += 1
        update.seq = self._seq
        return self._put(pb.ConnectRequest(task_update=update))

    def put_logs(self, batch: pb.TaskLogBatch) -> int:
        self._seq += 1
        batch.seq = self._seq
        return self._put(pb.ConnectRequest(log_batch=batch))

    def put_profiling(self, batch: pb.ProfilingBatch) -> int:
        self._seq += 1
        batch.seq = self._seq
        return self._put(pb.ConnectRequest(profiling=batch))

    def _put(self, message: pb.ConnectRequest) -> int:
        if self._store is not None:
            self._store.append(self._seq, message.SerializeToString())
        self._pending[self._seq] = message
        self._changed.set()
        return self._seq

    def ack(self, seq: int) -> None:
        if seq <= self._acked:
            return
        self._acked = seq
        while self._pending and next(iter(self._pending)) <= seq:
            self._pending.popitem(last=False)
        if self._store is not None:
            self._store.ack(seq)

    def is_acked(self, seq: int) -> bool:
        return seq <= self._acked

    def after(self, seq: int) -> list[tuple[int, pb.ConnectRequest]]:
        """Unacked messages with a sequence number above `seq`, in order."""
        return [(s, m) for s, m in self._pending.items() if s > seq]

    async def sync(self) -> None:
        """Until everything put so far is on the disk, not just written (a no-op in memory)."""
        if self._store is not None:
            await asyncio.to_thread(self._store.sync)

    def close(self) -> None:
        """Let go of the file (what is pending stays in it for the next run); safe to call twice."""
        if self._store is not None:
            self._store.close()

    async def wait(self, timeout: float | None = None) -> None:
        """Until something is put (or `timeout` seconds passed)."""
        try:
            await asyncio.wait_for(self._changed.wait(), timeout)
        except asyncio.TimeoutError:
            pass
        self._changed.clear()

    def __len__(self) -> int:
        return len(self._pending)

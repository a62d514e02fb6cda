"""Updates waiting for the controller's acknowledgement.

Every task update and log batch gets an agent-wide sequence number and stays
here until the controller acks it. After a reconnect everything unacked is
sent again; the controller ignores what it already stored, so nothing is lost
and nothing is applied twice.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict

from aifarm.v1 import agent_service_pb2 as pb


class Outbox:
    def __init__(self) -> None:
        self._seq = 0
        self._acked = 0
        self._pending: OrderedDict[int, pb.ConnectRequest] = OrderedDict()
        self._changed = asyncio.Event()

    def put_update(self, update: pb.TaskUpdate) -> int:
        self._seq += 1
        update.seq = self._seq
        self._pending[self._seq] = pb.ConnectRequest(task_update=update)
        self._changed.set()
        return self._seq

    def put_logs(self, batch: pb.TaskLogBatch) -> int:
        self._seq += 1
        batch.seq = self._seq
        self._pending[self._seq] = pb.ConnectRequest(log_batch=batch)
        self._changed.set()
        return self._seq

    def ack(self, seq: int) -> None:
        self._acked = max(self._acked, seq)
        while self._pending and next(iter(self._pending)) <= seq:
            self._pending.popitem(last=False)

    def is_acked(self, seq: int) -> bool:
        return seq <= self._acked

    def after(self, seq: int) -> list[tuple[int, pb.ConnectRequest]]:
        """Unacked messages with a sequence number above `seq`, in order."""
        return [(s, m) for s, m in self._pending.items() if s > seq]

    async def wait(self, timeout: float | None = None) -> None:
        """Until something is put (or `timeout` seconds passed)."""
        try:
            await asyncio.wait_for(self._changed.wait(), timeout)
        except asyncio.TimeoutError:
            pass
        self._changed.clear()

    def __len__(self) -> int:
        return len(self._pending)

"""Where a model copy reads its bytes: the source node's PeerService, and the ticket it checks.

Each node's ticket key is derived from a secret the controller draws at start (HMAC of the node id),
so nothing is stored: after a restart nodes reconnect and get the new key in their Welcome, and a
copy's retry gets a ticket signed with it.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from dataclasses import dataclass

from taskspec import peer_ticket
from taskspec.model_operation import ModelOperationSpec, Operation


@dataclass(frozen=True)
class PeerPoint:
    """Where a node serves its PeerService."""

    address: str
    port: int

    @property
    def target(self) -> str:
        return f"[{self.address}]:{self.port}" if ":" in self.address else f"{self.address}:{self.port}"


@dataclass(frozen=True)
class PeerSource:
    address: str
    ticket: str


class PeerTickets:
    def __init__(self, secret: bytes | None = None) -> None:
        self._secret = secret or os.urandom(32)

    def key_for(self, node_id: str) -> bytes:
        return hmac.new(self._secret, node_id.encode(), hashlib.sha256).digest()

    def source(self, spec: ModelOperationSpec, task_id: str, attempt: int, reader_node: str,
               point: PeerPoint | None) -> PeerSource | None:  # fmt: skip
        """What the copy's assignment carries; None for other operations, or a source that serves no PeerService now."""
        if spec.operation is not Operation.COPY or point is None:
            return None
        ticket = peer_ticket.sign(self.key_for(spec.source_node), spec.item, spec.source_local_device, task_id, attempt,
                                  reader_node)  # fmt: skip
        return PeerSource(point.target, ticket)

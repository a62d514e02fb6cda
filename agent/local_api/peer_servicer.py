"""PeerService: other nodes read this node's models (and data chunks) for the copies the controller
assigned them, each read admitted by its ticket (taskspec.peer_ticket) and checked against this node's key."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping

import grpc
import structlog

from agent.models.errors import ModelOperationError
from agent.models.transfer import file_chunks
from agent.models.local_store import LocalModelStore
from aifarm.v1 import peer_service_pb2 as pb
from aifarm.v1 import peer_service_pb2_grpc
from taskspec import peer_ticket
from taskspec.model_operation import Pool, stored_item
from taskspec.proto import pool_from_proto

log = structlog.get_logger(__name__)


class PeerKey:
    """The key this node checks tickets with, as the latest Welcome gave it (empty before the first)."""

    def __init__(self) -> None:
        self.value = b""


class PeerServicer(peer_service_pb2_grpc.PeerServiceServicer):
    def __init__(self, stores: Mapping[Pool, LocalModelStore], key: PeerKey) -> None:
        self.stores = stores
        self.key = key

    async def ReadPeerModel(self, request: pb.ReadPeerModelRequest, context: grpc.aio.ServicerContext) -> AsyncIterator[pb.ReadPeerModelResponse]:
        pool = pool_from_proto(request.pool)
        why = peer_ticket.verify(self.key.value, request.ticket, stored_item(pool, request.model), request.device,
                                 request.task_id, request.attempt, request.reader_node)  # fmt: skip
        if why:
            log.warning("peer read refused", task_id=request.task_id, reader=request.reader_node, why=why)
            await context.abort(grpc.StatusCode.PERMISSION_DENIED, f"read of {request.model} refused: {why}")
        store = self.stores.get(pool)
        if store is None:
            await context.abort(grpc.StatusCode.NOT_FOUND, f"this node keeps no {pool.value} store")
        try:
            path = store.path(request.model, request.device)
        except ModelOperationError as exc:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        if not path.is_file():
            await context.abort(grpc.StatusCode.NOT_FOUND, f"model {request.model} is not on {request.device} here")
        size, sha256 = path.stat().st_size, store.sha256(request.model, request.device)
        log.info("peer read", task_id=request.task_id, reader=request.reader_node, model=request.model, size=size)
        yield pb.ReadPeerModelResponse(size_bytes=size, sha256=sha256)
        async for chunk in file_chunks(path):
            yield pb.ReadPeerModelResponse(chunk=chunk)

"""gswarm's data pool (/api/v1/data on the gswarm_host listener): the domain's data pool
(controller.domain.data_pool) in the shapes gswarm's data CLI reads."""

from __future__ import annotations

import grpc
from google.protobuf import json_format

from aifarm.compat.gswarm.v1 import host_data_service_pb2 as pb
from aifarm.compat.gswarm.v1 import host_data_service_pb2_grpc
from aifarm.compat.gswarm.v1 import host_model_service_pb2 as model_pb
from controller.api.compat.gswarm.model_shapes import action
from controller.api.compat.json_values import fill_struct
from controller.api.compat.servermgmt.shapes import iso
from controller.api.errors import maps_domain_errors
from controller.domain.data_pool import ChunkSource, ChunkView, DataPool
from controller.domain.errors import InvalidArgument
from controller.domain.types import Priority, Task

AVAILABLE, PENDING = "available", "pending"


def chunk_shape(view: ChunkView) -> pb.DataChunk:
    chunk = view.chunk
    msg = pb.DataChunk(chunk_id=chunk.id, chunk_type=chunk.chunk_type, size=float(chunk.size), format=chunk.format,
                       locations=[model_pb.ModelLocation(device=loc, status=AVAILABLE) for loc in chunk.locations] +
                                 [model_pb.ModelLocation(device=loc, status=PENDING) for loc in view.pending],
                       references=view.references)  # fmt: skip
    fill_struct(msg.metadata, {**chunk.metadata, "created_by": chunk.created_by, "created_at": iso(chunk.created_at),
                               "last_accessed": iso(chunk.last_accessed), "access_count": chunk.access_count,
                               "checksum": f"sha256:{chunk.sha256}" if chunk.sha256 else ""})  # fmt: skip
    return msg


def priority(value: str) -> Priority:
    try:
        return Priority[(value or "normal").upper()]
    except KeyError:
        raise InvalidArgument(f"priority {value!r} is not one of critical, high, normal, low",
                              reason="INVALID_REQUEST") from None  # fmt: skip


def queued(task: Task, what: str, chunk_id: str) -> pb.QueuedDataOperation:
    target = f"{task.resources.node}:{task.spec.target_device}"  # type: ignore[union-attr]
    return pb.QueuedDataOperation(success=True, message=f"{what} of {chunk_id} to {target} queued as {task.id}",
                                  task_id=task.id, chunk_id=chunk_id, target=target)  # fmt: skip


@maps_domain_errors
class HostDataServicer(host_data_service_pb2_grpc.HostDataServiceServicer):
    def __init__(self, pool: DataPool) -> None:
        self.pool = pool

    async def ListDataChunks(self, request: pb.ListDataChunksRequest, context: grpc.aio.ServicerContext) -> pb.DataChunks:
        return pb.DataChunks(chunks=[chunk_shape(v) for v in self.pool.list(device=request.device, chunk_type=request.type)])

    async def CreateDataChunk(self, request: pb.CreateDataChunkRequest, context: grpc.aio.ServicerContext) -> pb.CreatedDataChunk:
        source = ChunkSource.parse(request.data, request.source)
        view, task = await self.pool.create(source, device=request.device, chunk_type=request.type, format=request.format,
                                            metadata=json_format.MessageToDict(request.metadata))  # fmt: skip
        chunk = view.chunk
        return pb.CreatedDataChunk(success=True, message=f"Data chunk {chunk.id} created on {', '.join(chunk.locations)}",
                                   chunk_id=chunk.id, size=float(chunk.size), task_id=task.id, chunk=chunk_shape(view))  # fmt: skip

    async def GetDataChunk(self, request: pb.GetDataChunkRequest, context: grpc.aio.ServicerContext) -> pb.DataChunk:
        return chunk_shape(await self.pool.get(request.chunk_id))

    async def MoveDataChunk(self, request: pb.MoveDataChunkRequest, context: grpc.aio.ServicerContext) -> pb.QueuedDataOperation:
        task = await self.pool.move(request.chunk_id, request.target_device, node=request.node,
                                    source_device=request.source_device, priority=priority(request.priority))  # fmt: skip
        return queued(task, "Move", request.chunk_id)

    async def TransferDataChunk(self, request: pb.TransferDataChunkRequest, context: grpc.aio.ServicerContext) -> pb.QueuedDataOperation:
        task = await self.pool.transfer(request.chunk_id, request.target_node, request.target_device, source=request.source,
                                        delete_source=request.delete_source, priority=priority(request.priority))  # fmt: skip
        return queued(task, "Transfer", request.chunk_id)

    async def DeleteDataChunk(self, request: pb.DeleteDataChunkRequest, context: grpc.aio.ServicerContext) -> model_pb.ActionResponse:
        cancelled, deletes = await self.pool.delete(request.chunk_id, force=request.force)
        extra = {"cancelled_tasks": cancelled} if cancelled else {}
        return action(f"Data chunk {request.chunk_id} deleted", chunk_id=request.chunk_id, delete_tasks=deletes, **extra)

"""/api/clients: the registry's nodes, with resources from their heartbeats and performance
computed from the tasks they finished."""

from __future__ import annotations

import grpc

from aifarm.compat.aifarm.v1 import clients_service_pb2 as pb
from aifarm.compat.aifarm.v1 import clients_service_pb2_grpc
from controller.api.compat.aifarm.task_shapes import STATUS
from controller.api.compat.servermgmt.shapes import iso
from controller.api.errors import maps_domain_errors
from controller.domain.errors import NotFound
from controller.domain.registry import NodeRegistry
from controller.domain.task_book import TaskBook
from controller.domain.types import PLACED_STATES, Node, NodeState, TaskQuery, TaskState

STATUS_OF_NODE = {NodeState.ONLINE: "active", NodeState.RECONNECTING: "reconnecting", NodeState.OFFLINE: "inactive"}
#: The most completed tasks (its latest) a client's average time is computed from; counts are over all.
PERFORMANCE_WINDOW = 10_000


def resources(node: Node) -> pb.ClientResources:
    caps, usage = node.capabilities, node.usage
    used = {g.index: g.memory_used_mb for g in usage.gpus}
    return pb.ClientResources(
        cpu=pb.CpuResources(cores=caps.cpu_cores, usage=usage.cpu_percent),
        ram=pb.RamResources(total=caps.memory_mb, used=usage.memory_used_mb),
        gpu=[pb.GpuResources(id=g.index, name=g.name, memory=pb.GpuMemory(total=g.memory_mb, used=used.get(g.index, 0)))
             for g in caps.gpus],
    )  # fmt: skip


@maps_domain_errors
class ClientsServicer(clients_service_pb2_grpc.ClientsServiceServicer):
    def __init__(self, book: TaskBook, registry: NodeRegistry) -> None:
        self.book = book
        self.registry = registry

    async def ListClients(self, request: pb.ListClientsRequest, context: grpc.aio.ServicerContext) -> pb.ListClientsResponse:
        return pb.ListClientsResponse(clients=[
            pb.Client(id=n.id, status=STATUS_OF_NODE[n.state], resources=resources(n), last_seen=iso(n.last_seen))
            for n in sorted(self.registry.nodes.values(), key=lambda n: n.id)
        ])  # fmt: skip

    async def GetClient(self, request: pb.GetClientRequest, context: grpc.aio.ServicerContext) -> pb.ClientDetail:
        node = self.registry.nodes.get(request.client_id)
        if node is None:
            raise NotFound(f"client {request.client_id!r} not found", reason="CLIENT_NOT_FOUND")
        working = await self.book.list(TaskQuery(node_id=node.id, states=tuple(PLACED_STATES), limit=1000))
        return pb.ClientDetail(
            id=node.id, status=STATUS_OF_NODE[node.state], resources=resources(node),
            tasks=[pb.ClientTask(id=t.id, status=STATUS[t.state], progress=t.progress * 100.0) for t in working.tasks],
            performance=await self._performance(node.id), last_seen=iso(node.last_seen),
        )  # fmt: skip

    async def _performance(self, node_id: str) -> pb.Performance:
        completed = await self.book.list(TaskQuery(node_id=node_id, states=(TaskState.COMPLETED,),
                                                   limit=PERFORMANCE_WINDOW))  # fmt: skip
        failed = await self.book.list(TaskQuery(node_id=node_id, states=(TaskState.FAILED,), limit=1))
        if not completed.total + failed.total:
            return pb.Performance()
        times = [t.end_time - t.start_time for t in completed.tasks if t.start_time and t.end_time >= t.start_time]
        return pb.Performance(completed_tasks=completed.total, average_time=sum(times) / len(times) if times else 0.0,
                              success_rate=completed.total / (completed.total + failed.total))  # fmt: skip

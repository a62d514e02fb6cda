"""gswarm's host system API (/api/v1/nodes, /health, /metrics): the registry's nodes and the farm's figures."""

from __future__ import annotations

import time

import grpc

from aifarm.compat.gswarm.v1 import host_system_service_pb2 as pb
from aifarm.compat.gswarm.v1 import host_system_service_pb2_grpc
from controller.api.compat.servermgmt.shapes import iso
from controller.api.errors import maps_domain_errors
from controller.domain.models import ModelRegistry
from controller.domain.registry import NodeRegistry
from controller.domain.task_book import TaskBook
from controller.domain.types import Node, NodeState

STATUS_OF_NODE = {NodeState.ONLINE: "online", NodeState.RECONNECTING: "reconnecting", NodeState.OFFLINE: "offline"}
MIB = 1 << 20


def host_node(node: Node, address: str) -> pb.HostNode:
    caps = node.capabilities
    storage = pb.NodeStorage(disk=float(caps.disk_bytes), dram=float(caps.memory_mb * MIB))
    return pb.HostNode(node_id=node.id, hostname=node.hostname, ip_address=address, status=STATUS_OF_NODE[node.state],
                       last_heartbeat=iso(node.last_seen),
                       capabilities=pb.NodeCapabilities(gpus=[f"gpu{g.index}" for g in caps.gpus], storage=storage))  # fmt: skip


@maps_domain_errors
class HostSystemServicer(host_system_service_pb2_grpc.HostSystemServiceServicer):
    def __init__(self, book: TaskBook, registry: NodeRegistry, models: ModelRegistry) -> None:
        self.book = book
        self.registry = registry
        self.models = models

    async def ListNodes(self, request: pb.ListNodesRequest, context: grpc.aio.ServicerContext) -> pb.ListNodesResponse:
        addresses = {n: point.address for n, point in self.registry.rendezvous_points().items()}
        nodes = sorted(self.registry.nodes.values(), key=lambda n: n.id)
        return pb.ListNodesResponse(nodes=[host_node(n, addresses.get(n.id, "")) for n in nodes])

    async def GetHealth(self, request: pb.GetHealthRequest, context: grpc.aio.ServicerContext) -> pb.HostHealth:
        database = await self.book.healthy()
        online, total = self.registry.online_count(), len(self.registry.nodes)
        state = "unhealthy" if not database else ("healthy" if online else "degraded")
        return pb.HostHealth(status=state, database=database, nodes_online=online, nodes_total=total,
                             timestamp=iso(time.time()))  # fmt: skip

    async def GetMetrics(self, request: pb.GetMetricsRequest, context: grpc.aio.ServicerContext) -> pb.HostMetrics:
        models = await self.models.list()
        online = self.registry.online_nodes()
        gpu_use = [g.utilization_percent for n in online for g in n.usage.gpus]
        counts = await self.book.count_by_state()
        return pb.HostMetrics(
            models=len(models), models_ready=sum(1 for m in models if m.ready),
            nodes_online=len(online), nodes_total=len(self.registry.nodes),
            gpus=sum(len(n.capabilities.gpus) for n in online),
            tasks={state.value: count for state, count in counts.items()},
            cpu_usage=sum(n.usage.cpu_percent for n in online) / len(online) if online else 0.0,
            memory_used_mb=float(sum(n.usage.memory_used_mb for n in online)),
            memory_total_mb=float(sum(n.capabilities.memory_mb for n in online)),
            gpu_utilization=sum(gpu_use) / len(gpu_use) if gpu_use else 0.0,
        )  # fmt: skip

"""GET /api/metrics and /api/metrics/tasks/{task_id}: figures from nodes' heartbeats and the task book."""

from __future__ import annotations

import time
from collections.abc import Iterable

import grpc

from aifarm.compat.aifarm.v1 import metrics_service_pb2 as pb
from aifarm.compat.aifarm.v1 import metrics_service_pb2_grpc
from controller.api.compat.servermgmt.shapes import iso
from controller.api.errors import maps_domain_errors
from controller.domain.errors import InvalidArgument
from controller.domain.registry import NodeRegistry
from controller.domain.task_book import TaskBook
from controller.domain.types import NodeUsage, TaskState

#: AI Farm's "running": placed on a client and working (a paused task is not running).
RUNNING = (TaskState.ASSIGNED, TaskState.RUNNING)


def usage(of: NodeUsage) -> pb.ResourceUsage:
    gpus = [g.utilization_percent for g in of.gpus]
    return pb.ResourceUsage(cpu_usage=of.cpu_percent, ram_usage=of.memory_percent,
                            gpu_usage=sum(gpus) / len(gpus) if gpus else 0.0)  # fmt: skip


def mean_usage(all_of: Iterable[NodeUsage]) -> pb.ResourceUsage:
    each = [usage(u) for u in all_of]
    if not each:
        return pb.ResourceUsage()
    n = len(each)
    return pb.ResourceUsage(cpu_usage=sum(u.cpu_usage for u in each) / n, ram_usage=sum(u.ram_usage for u in each) / n,
                            gpu_usage=sum(u.gpu_usage for u in each) / n)  # fmt: skip


@maps_domain_errors
class MetricsServicer(metrics_service_pb2_grpc.MetricsServiceServicer):
    def __init__(self, book: TaskBook, registry: NodeRegistry) -> None:
        self.book = book
        self.registry = registry

    async def GetSystemMetrics(
        self, request: pb.GetSystemMetricsRequest, context: grpc.aio.ServicerContext
    ) -> pb.SystemMetrics:
        counts = await self.book.count_by_state()
        online = self.registry.online_nodes()
        return pb.SystemMetrics(
            clients=pb.ClientCounts(total=len(self.registry.nodes), active=len(online)),
            tasks=pb.TaskCounts(total=sum(counts.values()), running=sum(counts.get(s, 0) for s in RUNNING),
                                completed=counts.get(TaskState.COMPLETED, 0), failed=counts.get(TaskState.FAILED, 0)),
            resources=mean_usage(n.usage for n in online),
            timestamp=iso(time.time()),
        )  # fmt: skip

    async def GetTaskMetrics(self, request: pb.GetTaskMetricsRequest, context: grpc.aio.ServicerContext) -> pb.TaskMetrics:
        if not request.task_id:
            raise InvalidArgument("task_id is required: GET /api/metrics/tasks/{task_id}")
        task = await self.book.get(request.task_id)
        node = self.registry.online(task.node_id) if task.node_id and task.state in RUNNING else None
        return pb.TaskMetrics(
            progress=task.progress * 100.0,
            metrics=dict(task.metrics),
            resources=usage(node.usage) if node is not None else pb.ResourceUsage(),
            timestamp=iso(time.time()),
        )

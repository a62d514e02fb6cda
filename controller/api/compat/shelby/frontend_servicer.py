"""ShelbyCompute's dashboard, system health and node list, read from the core domain."""

from __future__ import annotations

import time

import grpc

from aifarm.compat.shelby.v1 import frontend_service_pb2 as pb
from aifarm.compat.shelby.v1 import frontend_service_pb2_grpc
from controller.api.compat.shelby import job_convert, node_convert
from controller.api.errors import maps_domain_errors
from controller.domain.registry import NodeRegistry
from controller.domain.task_book import TaskBook
from controller.domain.types import TaskQuery, TaskState

RECENT_JOBS = 10


@maps_domain_errors
class FrontendServicer(frontend_service_pb2_grpc.FrontendServiceServicer):
    def __init__(self, book: TaskBook, registry: NodeRegistry) -> None:
        self.book = book
        self.registry = registry

    async def GetDashboard(
        self, request: pb.GetDashboardRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetDashboardResponse:
        counts = await self.book.count_by_state()
        recent = (await self.book.list(TaskQuery(limit=RECENT_JOBS))).tasks
        by_status = {name: sum(counts.get(s, 0) for s in states) for name, states in job_convert.STATES_OF.items()}
        stats = pb.JobStats(**by_status, total=sum(counts.values()))
        return pb.GetDashboardResponse(
            jobStats=stats,
            activeNodes=self.registry.online_count(),
            recentJobs=[job_convert.job(t) for t in recent],
            timestamp=int(time.time()),
        )

    async def GetSystemHealth(
        self, request: pb.GetSystemHealthRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetSystemHealthResponse:
        database = "healthy" if await self.book.healthy() else "unhealthy"
        queue = pb.JobQueue()
        if database == "healthy":
            counts = await self.book.count_by_state()
            queue = pb.JobQueue(
                pending=counts.get(TaskState.PENDING, 0),
                running=sum(counts.get(s, 0) for s in (TaskState.ASSIGNED, TaskState.RUNNING, TaskState.PAUSED)),
                completed=counts.get(TaskState.COMPLETED, 0),
                failed=counts.get(TaskState.FAILED, 0),
            )
        return pb.GetSystemHealthResponse(
            status=database, database=database, activeNodes=self.registry.online_count(), jobQueue=queue,
            timestamp=int(time.time()),
        )  # fmt: skip

    async def ListNodes(self, request: pb.ListNodesRequest, context: grpc.aio.ServicerContext) -> pb.ListNodesResponse:
        now = time.time()
        nodes = [node_convert.compute_node(n, now) for n in sorted(self.registry.nodes.values(), key=lambda n: n.id)]
        return pb.ListNodesResponse(nodes=nodes, count=len(nodes))

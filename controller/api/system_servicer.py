"""aifarm.v1.SystemService: health of the controller and a summary of the farm."""

from __future__ import annotations

import time
from pathlib import Path

import grpc
from google.api import httpbody_pb2
from prometheus_client import CONTENT_TYPE_LATEST

from aifarm.v1 import system_service_pb2, system_service_pb2_grpc
from controller.api.errors import maps_domain_errors
from controller.api.task_convert import STATE_TO_PROTO
from controller.api.auth import Credentials
from controller.api.prometheus_metrics import FarmCollector, exposition
from controller.credentials import rotate_join_token
from controller.domain.profiling import ProfilingSessions
from controller.domain.registry import NodeRegistry
from controller.domain.task_book import TaskBook
from controller.domain.task_placement import DispatchLatency

VERSION = "0.1.0"


@maps_domain_errors
class SystemServicer(system_service_pb2_grpc.SystemServiceServicer):
    def __init__(
        self, book: TaskBook, registry: NodeRegistry, started: float, credentials: Credentials, data_dir: Path,
        profiling: ProfilingSessions, latency: DispatchLatency,
    ) -> None:
        self.profiling = profiling
        self.latency = latency
        self.book = book
        self.credentials = credentials
        self.data_dir = data_dir
        self.registry = registry
        self.started = started

    async def GetHealth(
        self, request: system_service_pb2.GetHealthRequest, context: grpc.aio.ServicerContext
    ) -> system_service_pb2.Health:
        healthy = await self.book.healthy()
        counts = await self.book.count_by_state() if healthy else {}
        return system_service_pb2.Health(
            status="healthy" if healthy else "unhealthy",
            version=VERSION,
            nodes_online=self.registry.online_count(),
            tasks=[
                system_service_pb2.TaskStateCount(state=STATE_TO_PROTO[s], count=n) for s, n in sorted(
                    counts.items(), key=lambda kv: STATE_TO_PROTO[kv[0]])
            ],  # fmt: skip
            uptime_seconds=time.time() - self.started,
        )

    async def RotateJoinToken(
        self, request: system_service_pb2.RotateJoinTokenRequest, context: grpc.aio.ServicerContext
    ) -> system_service_pb2.RotateJoinTokenResponse:
        return system_service_pb2.RotateJoinTokenResponse(join_token=rotate_join_token(self.credentials, self.data_dir))

    async def GetPrometheusMetrics(
        self, request: system_service_pb2.GetPrometheusMetricsRequest, context: grpc.aio.ServicerContext
    ) -> httpbody_pb2.HttpBody:
        collector = FarmCollector(self.registry.nodes, self.profiling.latest(), await self.book.count_by_state(),
                                  len(self.profiling.active()), self.latency)  # fmt: skip
        return httpbody_pb2.HttpBody(content_type=CONTENT_TYPE_LATEST, data=exposition(collector))

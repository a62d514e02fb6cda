"""GET /health and GET / of the Server Management API."""

from __future__ import annotations

import grpc

from aifarm.compat.servermgmt.v1 import health_service_pb2 as pb
from aifarm.compat.servermgmt.v1 import health_service_pb2_grpc
from controller.api.errors import maps_domain_errors
from controller.domain.task_book import TaskBook

SERVICE = "Server Management API"
API_VERSION = "1.0.0"


@maps_domain_errors
class HealthServicer(health_service_pb2_grpc.HealthServiceServicer):
    def __init__(self, book: TaskBook) -> None:
        self.book = book

    async def GetHealth(self, request: pb.GetHealthRequest, context: grpc.aio.ServicerContext) -> pb.GetHealthResponse:
        status = "healthy" if await self.book.healthy() else "unhealthy"
        return pb.GetHealthResponse(status=status, service=SERVICE, version=API_VERSION)

    async def GetRoot(self, request: pb.GetRootRequest, context: grpc.aio.ServicerContext) -> pb.GetRootResponse:
        return pb.GetRootResponse(message=f"{SERVICE} (aifarm)", version=API_VERSION, docs="/docs", redoc="/redoc")

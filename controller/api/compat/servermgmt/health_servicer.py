"""GET /health and GET / of the Server Management API."""

from __future__ import annotations

import grpc

from aifarm.compat.servermgmt.v1 import health_service_pb2 as pb
from aifarm.compat.servermgmt.v1 import health_service_pb2_grpc
from controller.api.errors import maps_domain_errors
from controller.store.db import Database

SERVICE = "Server Management API"
API_VERSION = "1.0.0"


@maps_domain_errors
class HealthServicer(health_service_pb2_grpc.HealthServiceServicer):
    def __init__(self, db: Database) -> None:
        self.db = db

    async def GetHealth(self, request: pb.GetHealthRequest, context: grpc.aio.ServicerContext) -> pb.GetHealthResponse:
        status = "healthy" if await self.db.ping() else "unhealthy"
        return pb.GetHealthResponse(status=status, service=SERVICE, version=API_VERSION)

    async def GetRoot(self, request: pb.GetRootRequest, context: grpc.aio.ServicerContext) -> pb.GetRootResponse:
        return pb.GetRootResponse(message=f"{SERVICE} (aifarm)", version=API_VERSION, docs="/docs", redoc="/redoc")

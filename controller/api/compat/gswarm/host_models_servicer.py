"""gswarm's host model registry (/api/v1/models on the gswarm_host listener): the core registry's models."""

from __future__ import annotations

import grpc

from aifarm.compat.gswarm.v1 import host_model_service_pb2 as pb
from aifarm.compat.gswarm.v1 import host_model_service_pb2_grpc
from controller.api.compat.gswarm import model_shapes as shapes
from controller.api.errors import maps_domain_errors
from controller.domain.errors import InvalidArgument
from controller.domain.model_services import ModelServices
from controller.domain.models import ModelRegistry
from controller.domain.types import LOCATION_READY, ModelLocation

DEFAULT_PER_PAGE = 20
MAX_PER_PAGE = 1000


def _page(request: pb.ListModelsRequest) -> tuple[int, int]:
    if request.page < 0 or not 0 <= request.per_page <= MAX_PER_PAGE:
        raise InvalidArgument(f"page must be 1 or more and per_page 1 to {MAX_PER_PAGE} (page={request.page}, "
                              f"per_page={request.per_page})")  # fmt: skip
    return request.page or 1, request.per_page or DEFAULT_PER_PAGE


@maps_domain_errors
class HostModelServicer(host_model_service_pb2_grpc.HostModelServiceServicer):
    def __init__(self, models: ModelRegistry, services: ModelServices) -> None:
        self.models = models
        self.services = services

    async def ListModels(self, request: pb.ListModelsRequest, context: grpc.aio.ServicerContext) -> pb.ListModelsResponse:
        page, per_page = _page(request)
        found = [m for m in await self.models.list() if shapes.matches(m, request)]
        start = (page - 1) * per_page
        return pb.ListModelsResponse(models=[shapes.host_model(m) for m in found[start:start + per_page]],
                                     total=len(found), page=page, per_page=per_page)  # fmt: skip

    async def GetModel(self, request: pb.GetModelRequest, context: grpc.aio.ServicerContext) -> pb.HostModel:
        return shapes.host_model(await self.models.get(request.model_name), with_metadata=True)

    async def RegisterModel(self, request: pb.RegisterModelRequest, context: grpc.aio.ServicerContext) -> pb.ActionResponse:
        model = await self.models.register(shapes.registered(request))
        return shapes.action(f"Model {model.name} registered", model_name=model.name)

    async def DeleteModel(self, request: pb.DeleteModelRequest, context: grpc.aio.ServicerContext) -> pb.ActionResponse:
        stopped = await self.services.delete_model(request.model_name, force=request.force)
        stopped_services = {"stopped_services": stopped} if stopped else {}
        return shapes.action(f"Model {request.model_name} deleted", model_name=request.model_name, **stopped_services)

    async def GetModelLocations(
        self, request: pb.GetModelLocationsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ModelLocations:
        model = await self.models.get(request.model_name)
        return pb.ModelLocations(model_name=model.name, locations=[
            pb.ModelLocation(device=loc.device, status=loc.status) for loc in model.locations])  # fmt: skip

    async def AddLocation(self, request: pb.AddLocationRequest, context: grpc.aio.ServicerContext) -> pb.ActionResponse:
        location = ModelLocation(request.device, request.status or LOCATION_READY)
        await self.models.add_location(request.model_name, location)
        return shapes.action(f"Location {location.device} added to {request.model_name}",
                             model_name=request.model_name, device=location.device, status=location.status)  # fmt: skip

    async def RemoveLocation(
        self, request: pb.RemoveLocationRequest, context: grpc.aio.ServicerContext
    ) -> pb.ActionResponse:
        await self.models.remove_location(request.model_name, request.device)
        return shapes.action(f"Location {request.device} removed from {request.model_name}",
                             model_name=request.model_name, device=request.device)  # fmt: skip

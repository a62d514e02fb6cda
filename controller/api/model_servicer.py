"""aifarm.v1.ModelService: parse, call the ModelRegistry, convert."""

from __future__ import annotations

from typing import AsyncIterator

import grpc
from google.api import httpbody_pb2
from google.protobuf import empty_pb2

from aifarm.v1 import model_pb2, model_service_pb2, model_service_pb2_grpc
from controller.api.convert_common import next_page_token, page_bounds, resource_id, timestamp
from controller.api.errors import maps_domain_errors
from controller.api.http_body import first_message, http_body_stream, upload_pieces
from controller.domain.models import ModelRegistry
from controller.domain.types import Model


def model_to_proto(m: Model) -> model_pb2.Model:
    return model_pb2.Model(
        name=f"models/{m.name}",
        size_bytes=m.size_bytes,
        sha256=m.sha256,
        source_task=f"tasks/{m.source_task_id}" if m.source_task_id else "",
        create_time=timestamp(m.create_time),
        model_type=m.model_type,
        source_url=m.source_url,
        locations=[loc.device for loc in m.locations],
    )


@maps_domain_errors
class ModelServicer(model_service_pb2_grpc.ModelServiceServicer):
    def __init__(self, models: ModelRegistry) -> None:
        self.models = models

    async def CreateModel(
        self, requests: AsyncIterator[model_service_pb2.CreateModelRequest], context: grpc.aio.ServicerContext
    ) -> model_pb2.Model:
        # The name comes in the first message; the pieces of the file go to the store as they arrive.
        first = await first_message(requests)
        return model_to_proto(await self.models.create(first.model_id, upload_pieces(first, requests, "content", context)))

    async def GetModel(self, request: model_service_pb2.GetModelRequest, context: grpc.aio.ServicerContext) -> model_pb2.Model:
        return model_to_proto(await self.models.get(resource_id(request.name, "models")))

    async def ListModels(
        self, request: model_service_pb2.ListModelsRequest, context: grpc.aio.ServicerContext
    ) -> model_service_pb2.ListModelsResponse:
        offset, limit = page_bounds(request.page_size, request.page_token, default=100, maximum=1000)
        models = await self.models.list()
        page = models[offset : offset + limit]
        return model_service_pb2.ListModelsResponse(
            models=[model_to_proto(m) for m in page],
            next_page_token=next_page_token(offset, limit, len(page), len(models)),
        )

    async def DeleteModel(
        self, request: model_service_pb2.DeleteModelRequest, context: grpc.aio.ServicerContext
    ) -> empty_pb2.Empty:
        await self.models.delete(resource_id(request.name, "models"))
        return empty_pb2.Empty()

    async def DownloadModel(
        self, request: model_service_pb2.DownloadModelRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[httpbody_pb2.HttpBody]:
        _, chunks = await self.models.read(resource_id(request.name, "models"))
        async for message in http_body_stream("application/octet-stream", chunks):
            yield message

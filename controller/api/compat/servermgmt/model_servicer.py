"""The model registry under /api/v1/models."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import grpc
from google.api import httpbody_pb2
from google.protobuf import struct_pb2

from aifarm.compat.servermgmt.v1 import model_service_pb2 as pb
from aifarm.compat.servermgmt.v1 import model_service_pb2_grpc
from controller.api.compat.servermgmt.multipart_upload import MultipartUpload
from controller.api.compat.servermgmt.shapes import iso, json_array, size_mb
from controller.api.errors import maps_domain_errors
from controller.api.http_body import first_message, http_body_stream, upload_pieces
from controller.domain.errors import InvalidArgument
from controller.domain.models import ModelRegistry
from controller.domain.types import Model


@maps_domain_errors
class ModelServicer(model_service_pb2_grpc.ModelServiceServicer):
    def __init__(self, models: ModelRegistry, data_dir: Path) -> None:
        self.models = models
        self.data_dir = data_dir

    def _info(self, model: Model) -> pb.ModelInfo:
        path = self.models.file_path(model.name)
        shown = path.relative_to(self.data_dir) if path.is_relative_to(self.data_dir) else path
        # A model registered by name only (gswarm) has no file here yet.
        return pb.ModelInfo(name=model.name, size_mb=size_mb(model.size_bytes), created_at=iso(model.create_time),
                            file_path=str(shown) if model.has_content else "")  # fmt: skip

    async def ListModels(self, request: pb.ListModelsRequest, context: grpc.aio.ServicerContext) -> struct_pb2.ListValue:
        return json_array(self._info(m) for m in await self.models.list())

    async def DownloadModel(
        self, request: pb.DownloadModelRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[httpbody_pb2.HttpBody]:
        # read() raises NotFound before any metadata or message, so REST still answers 404.
        _, chunks = await self.models.read(request.model_name)
        await context.send_initial_metadata(
            (("content-disposition", f'attachment; filename="{request.model_name}.pth"'),)
        )
        async for message in http_body_stream("application/octet-stream", chunks):
            yield message

    async def UploadModel(
        self, requests: AsyncIterator[pb.UploadModelRequest], context: grpc.aio.ServicerContext
    ) -> pb.UploadModelResponse:
        # The name and content type come in the first message; the body streams on through the parser.
        first = await first_message(requests)
        if not first.model_name:
            raise InvalidArgument("model_name is required (?model_name=...)")
        upload = MultipartUpload(first.file.content_type, upload_pieces(first, requests, "file", context))
        await upload.open()
        model = await self.models.create(first.model_name, upload.chunks())
        return pb.UploadModelResponse(
            message=f"Model '{model.name}' uploaded successfully", name=model.name, size_mb=size_mb(model.size_bytes)
        )

    async def DeleteModel(self, request: pb.DeleteModelRequest, context: grpc.aio.ServicerContext) -> pb.DeleteModelResponse:
        await self.models.delete(request.model_name)
        return pb.DeleteModelResponse(message=f"Model '{request.model_name}' deleted successfully")

"""The dataset registry under /api/v1/datasets: aifarm's dataset library."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import grpc
from google.protobuf import struct_pb2

from aifarm.compat.servermgmt.v1 import dataset_service_pb2 as pb
from aifarm.compat.servermgmt.v1 import dataset_service_pb2_grpc
from controller.api.compat.servermgmt.multipart_upload import MultipartUpload
from controller.api.compat.servermgmt.shapes import iso, json_array, size_mb
from controller.api.errors import maps_domain_errors
from controller.api.http_body import first_message, upload_pieces
from controller.domain.datasets import DatasetLibrary
from controller.domain.errors import InvalidArgument
from controller.domain.types import Dataset
from taskspec.datasets import format_of_name

#: Datasets listed at most.
MAX_DATASETS = 10_000


@maps_domain_errors
class DatasetServicer(dataset_service_pb2_grpc.DatasetServiceServicer):
    def __init__(self, datasets: DatasetLibrary, data_dir: Path) -> None:
        self.datasets = datasets
        self.data_dir = data_dir

    def _info(self, d: Dataset) -> pb.DatasetInfo:
        path = self.datasets.file_path(d.id)
        shown = path.relative_to(self.data_dir) if path.is_relative_to(self.data_dir) else path
        return pb.DatasetInfo(
            name=d.id, size_mb=size_mb(d.size_bytes), sample_count=d.sample_count, format=d.format,
            dimensions=d.dimensions, created_at=iso(d.create_time), file_path=str(shown),
        )  # fmt: skip

    async def ListDatasets(self, request: pb.ListDatasetsRequest, context: grpc.aio.ServicerContext) -> struct_pb2.ListValue:
        return json_array(self._info(d) for d in await self.datasets.list(offset=0, limit=MAX_DATASETS))

    async def GetDataset(self, request: pb.GetDatasetRequest, context: grpc.aio.ServicerContext) -> pb.DatasetInfo:
        return self._info(await self.datasets.get(request.dataset_name))

    async def UploadDataset(
        self, requests: AsyncIterator[pb.UploadDatasetRequest], context: grpc.aio.ServicerContext
    ) -> pb.UploadDatasetResponse:
        # The name and content type come in the first message; the body streams on through the parser.
        first = await first_message(requests)
        if not first.dataset_name:
            raise InvalidArgument("dataset_name is required (?dataset_name=...)")
        upload = MultipartUpload(first.file.content_type, upload_pieces(first, requests, "file", context))
        filename = await upload.open()
        # The document's server keeps datasets to train on: one that cannot be read is refused.
        fmt = format_of_name(filename)
        dataset = await self.datasets.create(first.dataset_name, fmt, filename, upload.chunks(), strict=True)
        return pb.UploadDatasetResponse(
            message=f"Dataset '{dataset.id}' uploaded successfully", name=dataset.id, size_mb=size_mb(dataset.size_bytes)
        )

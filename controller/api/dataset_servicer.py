"""aifarm.v1.DatasetService."""

from __future__ import annotations

from typing import AsyncIterator

import grpc
from google.api import httpbody_pb2
from google.protobuf import empty_pb2

from aifarm.v1 import dataset_pb2, dataset_service_pb2, dataset_service_pb2_grpc
from controller.api.convert_common import next_page_token, page_bounds, resource_id
from controller.api.dataset_convert import dataset_to_proto, media_type
from controller.api.errors import maps_domain_errors
from controller.api.http_body import first_message, http_body_stream, upload_pieces
from controller.domain.datasets import DatasetLibrary


@maps_domain_errors
class DatasetServicer(dataset_service_pb2_grpc.DatasetServiceServicer):
    def __init__(self, datasets: DatasetLibrary) -> None:
        self.datasets = datasets

    async def CreateDataset(
        self, requests: AsyncIterator[dataset_service_pb2.CreateDatasetRequest], context: grpc.aio.ServicerContext
    ) -> dataset_pb2.Dataset:
        # The names come in the first message; the pieces of the file go to the store as they arrive.
        first = await first_message(requests)
        dataset = await self.datasets.create(
            first.dataset_id, first.format, first.description, upload_pieces(first, requests, "content", context)
        )
        return dataset_to_proto(dataset)

    async def GetDataset(
        self, request: dataset_service_pb2.GetDatasetRequest, context: grpc.aio.ServicerContext
    ) -> dataset_pb2.Dataset:
        return dataset_to_proto(await self.datasets.get(resource_id(request.name, "datasets")))

    async def ListDatasets(
        self, request: dataset_service_pb2.ListDatasetsRequest, context: grpc.aio.ServicerContext
    ) -> dataset_service_pb2.ListDatasetsResponse:
        offset, limit = page_bounds(request.page_size, request.page_token, default=100, maximum=1000)
        datasets = await self.datasets.list(offset=offset, limit=limit)
        return dataset_service_pb2.ListDatasetsResponse(
            datasets=[dataset_to_proto(d) for d in datasets],
            next_page_token=next_page_token(offset, limit, len(datasets)),
        )

    async def DeleteDataset(
        self, request: dataset_service_pb2.DeleteDatasetRequest, context: grpc.aio.ServicerContext
    ) -> empty_pb2.Empty:
        await self.datasets.delete(resource_id(request.name, "datasets"))
        return empty_pb2.Empty()

    async def DownloadDataset(
        self, request: dataset_service_pb2.DownloadDatasetRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[httpbody_pb2.HttpBody]:
        # read() raises NotFound before the first message, so REST still answers 404.
        dataset, chunks = await self.datasets.read(resource_id(request.name, "datasets"))
        async for message in http_body_stream(media_type(dataset.format), chunks):
            yield message

"""Dataset domain -> aifarm.v1 messages."""

from __future__ import annotations

from aifarm.v1 import dataset_pb2
from controller.api.convert_common import timestamp
from controller.domain.types import Dataset


def dataset_to_proto(d: Dataset) -> dataset_pb2.Dataset:
    return dataset_pb2.Dataset(
        name=f"datasets/{d.id}",
        format=d.format,
        size_bytes=d.size_bytes,
        sha256=d.sha256,
        create_time=timestamp(d.create_time),
        description=d.description,
        sample_count=d.sample_count,
        dimensions=d.dimensions,
    )


# What a download is labelled with, so a browser or curl knows what it got.
_MEDIA_TYPES = {"csv": "text/csv"}


def media_type(fmt: str) -> str:
    return _MEDIA_TYPES.get(fmt, "application/octet-stream")

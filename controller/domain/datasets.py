"""The dataset library: files the controller keeps for training tasks."""

from __future__ import annotations

import asyncio
import re
import time
from pathlib import Path
from typing import AsyncIterable, AsyncIterator

from controller.domain.dataset_shape import describe_file, synthetic_npz
from controller.domain.errors import AlreadyExists, InvalidArgument, NotFound
from controller.domain.types import Dataset
from controller.domain.store import Changes, Conflict, Store
from controller.store.blob_store import BlobStore
from taskspec.datasets import FORMATS, format_of_name
from taskspec.errors import DatasetError

#: The dataset every controller has: small images of 4 classes (see dataset_shape.synthetic_npz).
BUILTIN_SYNTHETIC = "synthetic"
DATASET_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")


class DatasetLibrary:
    def __init__(self, store: Store, blobs: BlobStore, folder: tuple[str, ...] = ("datasets",)) -> None:
        """Files live at ``blobs`` / ``folder`` / <dataset id>."""
        self.store = store
        self.blobs = blobs
        self.folder = folder
        #: Ids being uploaded now: a second upload of one id must not overwrite (or delete) the first's file.
        self._uploading: set[str] = set()

    async def create(
        self, dataset_id: str, fmt: str, description: str, chunks: AsyncIterable[bytes], *, strict: bool = False
    ) -> Dataset:
        """Keep an uploaded file. A file training cannot read is kept (its tasks fail saying why)
        unless ``strict`` or an image archive: then it is refused and nothing is kept."""
        if not DATASET_ID.match(dataset_id) or ".." in dataset_id:
            raise InvalidArgument(
                f"invalid dataset id {dataset_id!r}: use 1-63 letters, digits, '-', '_' or '.'"
            )
        fmt = fmt or format_of_name(dataset_id)
        if fmt not in FORMATS:
            raise InvalidArgument(f"dataset format must be one of {', '.join(FORMATS)} (got {fmt!r})")
        exists = AlreadyExists(f"dataset {dataset_id!r} already exists", reason="DATASET_EXISTS")
        if dataset_id in self._uploading:
            raise exists
        self._uploading.add(dataset_id)  # before any await, so a concurrent upload sees it
        try:
            if await self.store.get_dataset(dataset_id):
                raise exists
            blob = await self.blobs.write((*self.folder, dataset_id), chunks)
            try:
                try:
                    samples, dims = await asyncio.to_thread(describe_file, blob.path, fmt, strict=strict)
                except DatasetError as exc:
                    raise InvalidArgument(f"dataset {dataset_id!r} is not usable for training: {exc}",
                                          reason="DATASET_UNREADABLE") from exc  # fmt: skip
                dataset = Dataset(dataset_id, fmt, blob.size_bytes, blob.sha256, description, time.time(), samples, dims)
                try:
                    await self.store.commit(Changes(new_datasets=[dataset]))
                except Conflict:
                    raise exists from None
            except BaseException:  # an unreadable file, or cancelled mid-insert: no file without its record
                self.blobs.delete(*self.folder, dataset_id)
                raise
        finally:
            self._uploading.discard(dataset_id)
        return dataset

    def file_path(self, dataset_id: str) -> Path:
        return self.blobs.path(*self.folder, dataset_id)

    async def get(self, dataset_id: str) -> Dataset:
        dataset = await self.store.get_dataset(dataset_id)
        if dataset is None:
            raise NotFound(f"dataset {dataset_id!r} not found", reason="DATASET_NOT_FOUND")
        return dataset

    async def list(self, *, offset: int, limit: int) -> list[Dataset]:
        return await self.store.list_datasets(offset=offset, limit=limit)

    async def delete(self, dataset_id: str) -> None:
        await self.get(dataset_id)
        await self.store.commit(Changes(deleted_datasets=[dataset_id]))
        self.blobs.delete(*self.folder, dataset_id)

    async def read(self, dataset_id: str) -> tuple[Dataset, AsyncIterator[bytes]]:
        dataset = await self.get(dataset_id)
        return dataset, self.blobs.read(*self.folder, dataset_id)

    async def ensure_builtin(self) -> None:
        """Add the built-in synthetic dataset unless it is there (or was replaced by an upload)."""
        if await self.store.get_dataset(BUILTIN_SYNTHETIC):
            return

        async def content() -> AsyncIterator[bytes]:
            yield synthetic_npz()

        await self.create(BUILTIN_SYNTHETIC, "npz", "built-in: 256 images 3x16x16, 4 classes", content())

"""The model registry: named weight files, uploaded or saved from completed training tasks."""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import replace
from pathlib import Path
from typing import AsyncIterable, AsyncIterator
from urllib.parse import urlsplit

import structlog

from controller.domain.errors import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound
from controller.domain.types import Model, ModelLocation, Task
from controller.domain.store import Changes, Conflict, Store
from controller.store.blob_store import BlobStore
from taskspec.checkpoint import CheckpointInfo, describe_checkpoint
from taskspec.errors import SpecError
from taskspec.model_operation import NODE_DEVICE
from taskspec.training import ARCHITECTURES, CHECKPOINT_FILE, MODEL_NAME, MODEL_PREFIX, MODEL_URL_SCHEMES

log = structlog.get_logger(__name__)

def validate_model_name(name: str) -> str:
    if not MODEL_NAME.match(name) or ".." in name:
        raise InvalidArgument(f"invalid model name {name!r}: use 1-128 letters, digits, '-', '_' or '.'")
    return name


def validate_location(location: ModelLocation) -> None:
    """A location is "node:device" with device disk, dram or gpuN, and a short status."""
    if not NODE_DEVICE.match(location.device):
        raise InvalidArgument(f"invalid location {location.device!r}: give NODE:DEVICE with DEVICE disk, dram or gpuN"
                              " (for example node1:gpu0)")  # fmt: skip
    if len(location.status) > 32 or not location.status.isprintable():
        raise InvalidArgument("status must be at most 32 printable characters")


MAX_METADATA_BYTES = 64 << 10


def validate_registration(model: Model) -> None:
    """What a model registered by name says of itself: a size, a short type, a fetchable URL, bounded metadata."""
    if model.size_bytes < 0:
        raise InvalidArgument(f"model_size must not be negative, not {model.size_bytes}")
    if len(model.model_type) > 64 or not model.model_type.isprintable():
        raise InvalidArgument("model_type must be at most 64 printable characters")
    url = model.source_url
    if url and (len(url) > 2048 or "://" not in url or urlsplit(url).scheme.lower() not in MODEL_URL_SCHEMES):
        raise InvalidArgument(f"source_url {url[:80]!r} must be an http://, https:// or file:// URL (at most 2048"
                              " characters)")  # fmt: skip
    if len(json.dumps(model.metadata)) > MAX_METADATA_BYTES:
        raise InvalidArgument(f"metadata is larger than {MAX_METADATA_BYTES} bytes of JSON")


class ModelRegistry:
    """Models by name. ``blobs`` is rooted at the models directory; a model's file is ``<root>/<name>``."""

    def __init__(self, store: Store, blobs: BlobStore, artifacts: BlobStore) -> None:
        self.store = store
        self.blobs = blobs
        self.artifacts = artifacts
        self._uploading: set[str] = set()
        #: Location changes read, change and write a model's row: one at a time.
        self._locations_lock = asyncio.Lock()

    def file_path(self, name: str) -> Path:
        return self.blobs.path(name)

    async def create(self, name: str, chunks: AsyncIterable[bytes], *, source_task_id: str = "") -> Model:
        """Store a new model; AlreadyExists when the name is taken (nothing is overwritten)."""
        validate_model_name(name)
        exists = AlreadyExists(f"model {name!r} already exists", reason="MODEL_EXISTS")
        if name in self._uploading:
            raise exists
        self._uploading.add(name)  # before any await, so a concurrent upload of the name sees it
        try:
            if await self.store.get_model(name):
                raise exists
            blob = await self.blobs.write((name,), chunks)
            model = Model(name, blob.size_bytes, blob.sha256, source_task_id, time.time())
            try:
                try:
                    await self.store.commit(Changes(new_models=[model]))
                except Conflict:
                    raise exists from None
            except BaseException:  # cancelled mid-insert too: no file without its record
                self.blobs.delete(name)
                raise
        finally:
            self._uploading.discard(name)
        log.info("model saved", model=name, size_bytes=model.size_bytes, source_task_id=source_task_id)
        return model

    async def get(self, name: str) -> Model:
        model = await self.store.get_model(name)
        if model is None:
            raise NotFound(f"model {name!r} not found", reason="MODEL_NOT_FOUND")
        return model

    async def checkpoint(self, name: str) -> CheckpointInfo:
        """What a model holds, for a training to continue it; InvalidArgument when it is no
        training checkpoint (read without torch, its pickle never run: see taskspec.checkpoint)."""
        await self._with_content(name)
        try:
            return await asyncio.to_thread(describe_checkpoint, self.blobs.path(name), name)
        except SpecError as exc:
            raise InvalidArgument(str(exc), reason="MODEL_NOT_TRAINABLE") from exc

    async def trainable_architecture(self, name: str) -> str:
        """A built-in architecture as it is; else ``models/NAME`` for a model of the registry that is a
        training checkpoint to continue (InvalidArgument when it is neither)."""
        if name in ARCHITECTURES:
            return name
        model = name.removeprefix(MODEL_PREFIX)
        try:
            await self.checkpoint(model)
        except NotFound:
            raise InvalidArgument(f"model_architecture {name!r} is not one of {', '.join(ARCHITECTURES)}"
                                  " nor a model of GET /api/v1/models", reason="INVALID_TRAINING_SPEC") from None  # fmt: skip
        return MODEL_PREFIX + model

    async def list(self) -> list[Model]:
        return await self.store.list_models()

    async def read(self, name: str) -> tuple[Model, AsyncIterator[bytes]]:
        model = await self._with_content(name)
        return model, self.blobs.read(name)

    async def _with_content(self, name: str) -> Model:
        """The model, when the registry holds its bytes; FailedPrecondition for one registered by name only."""
        model = await self.get(name)
        if not model.has_content:
            where = ", ".join(loc.device for loc in model.locations) or "nowhere yet"
            raise FailedPrecondition(f"model {name!r} is registered, but its bytes are not in the registry"
                                     f" (locations: {where})", reason="MODEL_NOT_IN_REGISTRY")  # fmt: skip
        return model

    async def register(self, model: Model) -> Model:
        """Register a model by name, without bytes (gswarm's registry); AlreadyExists when the name is taken."""
        validate_model_name(model.name)
        validate_registration(model)
        if await self.store.get_model(model.name) or model.name in self._uploading:
            raise AlreadyExists(f"model {model.name!r} already exists", reason="MODEL_EXISTS")
        model = replace(model, sha256="", source_task_id="", create_time=time.time())
        try:
            await self.store.commit(Changes(new_models=[model]))
        except Conflict:
            raise AlreadyExists(f"model {model.name!r} already exists", reason="MODEL_EXISTS") from None
        log.info("model registered", model=model.name, model_type=model.model_type)
        return model

    async def add_location(self, name: str, location: ModelLocation) -> Model:
        """Record where the model's bytes are (a location already there takes the new status)."""
        async with self._locations_lock:
            model = await self.get(name)
            validate_location(location)
            kept = tuple(loc for loc in model.locations if loc.device != location.device)
            return await self._replace(replace(model, locations=(*kept, location)))

    async def remove_location(self, name: str, device: str) -> Model:
        """Forget a location; NotFound when the model has none there."""
        async with self._locations_lock:
            model = await self.get(name)
            kept = tuple(loc for loc in model.locations if loc.device != device)
            if len(kept) == len(model.locations):
                raise NotFound(f"model {name!r} has no location {device!r}", reason="LOCATION_NOT_FOUND")
            return await self._replace(replace(model, locations=kept))

    async def _replace(self, model: Model) -> Model:
        # One commit: the row out and its new version in (the store applies deletions first).
        await self.store.commit(Changes(deleted_models=[model.name], new_models=[model]))
        return model

    async def delete(self, name: str) -> None:
        model = await self.get(name)
        await self.store.commit(Changes(deleted_models=[name]))
        if model.has_content:
            self.blobs.delete(name)
        log.info("model deleted", model=name)

    def has_checkpoint(self, task_id: str) -> bool:
        return self.artifacts.exists("artifacts", task_id, CHECKPOINT_FILE)

    async def save_task_output(self, task: Task) -> None:
        """Save the checkpoint of a completed task under its output model's name.

        AlreadyExists when the name is taken; FailedPrecondition when the task left no checkpoint.
        """
        if not self.has_checkpoint(task.id):
            raise FailedPrecondition(f"the task left no {CHECKPOINT_FILE} to save", reason="NO_CHECKPOINT")
        await self.create(
            task.output_model, self.artifacts.read("artifacts", task.id, CHECKPOINT_FILE), source_task_id=task.id
        )

"""The model registry: named weight files, uploaded or saved from completed training tasks."""

from __future__ import annotations

import asyncio
import re
import time
from pathlib import Path
from typing import AsyncIterable, AsyncIterator

import structlog

from controller.domain.errors import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound
from controller.domain.types import Model, Task
from controller.domain.store import Changes, Conflict, Store
from controller.store.blob_store import BlobStore
from taskspec.checkpoint import CheckpointInfo, describe_checkpoint
from taskspec.errors import SpecError
from taskspec.training import ARCHITECTURES, CHECKPOINT_FILE, MODEL_PREFIX

log = structlog.get_logger(__name__)

MODEL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")


def validate_model_name(name: str) -> str:
    if not MODEL_NAME.match(name) or ".." in name:
        raise InvalidArgument(f"invalid model name {name!r}: use 1-128 letters, digits, '-', '_' or '.'")
    return name


class ModelRegistry:
    """Models by name. ``blobs`` is rooted at the models directory; a model's file is ``<root>/<name>``."""

    def __init__(self, store: Store, blobs: BlobStore, artifacts: BlobStore) -> None:
        self.store = store
        self.blobs = blobs
        self.artifacts = artifacts
        self._uploading: set[str] = set()

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
        await self.get(name)
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
        model = await self.get(name)
        return model, self.blobs.read(name)

    async def delete(self, name: str) -> None:
        await self.get(name)
        await self.store.commit(Changes(deleted_models=[name]))
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

"""ModelRegistry: rows in SQLite, files in the models directory, checkpoints of completed tasks."""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path
from typing import AsyncIterator

import pytest
import pytest_asyncio

from controller.domain.errors import AlreadyExists, InvalidArgument, NotFound, ResourceExhausted
from controller.domain.models import ModelRegistry
from taskspec.training import CHECKPOINT_FILE
from controller.domain.types import Task, TaskSpec
from controller.store.blob_store import BlobStore
from controller.store.db import Database
from controller.store.model_store import ModelStore


async def chunks(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        await asyncio.sleep(0)
        yield part


@pytest_asyncio.fixture(loop_scope="function")
async def registry(tmp_path: Path) -> AsyncIterator[ModelRegistry]:
    db = await Database.open(tmp_path / "controller.db")
    artifacts = BlobStore(tmp_path / "files", max_bytes=1000)
    yield ModelRegistry(db, ModelStore(db), BlobStore(tmp_path / "models", max_bytes=100), artifacts)
    await db.close()


async def test_create_list_read_delete(registry: ModelRegistry, tmp_path: Path) -> None:
    model = await registry.create("net_v1", chunks(b"abc", b"def"))
    assert (model.size_bytes, model.sha256) == (6, hashlib.sha256(b"abcdef").hexdigest())
    assert registry.file_path("net_v1") == (tmp_path / "models" / "net_v1").resolve()
    assert [m.name for m in await registry.list()] == ["net_v1"]
    _, stream = await registry.read("net_v1")
    assert b"".join([c async for c in stream]) == b"abcdef"
    await registry.delete("net_v1")
    assert not registry.file_path("net_v1").exists()
    with pytest.raises(NotFound):
        await registry.get("net_v1")
    with pytest.raises(NotFound):
        await registry.delete("net_v1")


async def test_a_taken_name_is_refused_and_the_first_file_kept(registry: ModelRegistry) -> None:
    await registry.create("m", chunks(b"first"))
    with pytest.raises(AlreadyExists):
        await registry.create("m", chunks(b"second"))
    _, stream = await registry.read("m")
    assert b"".join([c async for c in stream]) == b"first"


@pytest.mark.parametrize("name", ["", "../escape", "a/b", ".hidden", "x" * 200, "a..b"])
async def test_bad_names_are_refused(registry: ModelRegistry, name: str) -> None:
    with pytest.raises(InvalidArgument):
        await registry.create(name, chunks(b"x"))


async def test_an_oversized_upload_leaves_nothing(registry: ModelRegistry) -> None:
    with pytest.raises(ResourceExhausted):
        await registry.create("big", chunks(b"x" * 60, b"x" * 60))
    assert await registry.list() == []
    assert not registry.file_path("big").exists()


async def test_a_completed_task_with_an_output_model_saves_its_checkpoint(registry: ModelRegistry) -> None:
    await registry.artifacts.write(("artifacts", "t1", CHECKPOINT_FILE), chunks(b"weights"))
    task = Task(id="t1", spec=TaskSpec("training", "{}"), output_model="mlp_t1")
    await registry.save_task_output(task)
    model = await registry.get("mlp_t1")
    assert model.source_task_id == "t1" and model.size_bytes == len(b"weights")
    # no output model, or no checkpoint: nothing is saved
    await registry.save_task_output(Task(id="t2", spec=TaskSpec("training", "{}")))
    await registry.save_task_output(Task(id="t3", spec=TaskSpec("training", "{}"), output_model="never"))
    assert [m.name for m in await registry.list()] == ["mlp_t1"]

"""ModelRegistry: rows in the store (SQLite here), files in the models directory, checkpoints of completed tasks."""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path
from typing import AsyncIterator

import pytest
import pytest_asyncio

from controller.domain.errors import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound, ResourceExhausted
from controller.domain.models import ModelRegistry
from controller.domain.types import Task
from controller.store.blob_store import BlobStore
from controller.store.sqlite_store import SqliteStore
from taskspec.training import CHECKPOINT_FILE, SyntheticData, TrainingConfig, TrainingSpec

SPEC = TrainingSpec(TrainingConfig(architecture="mlp", epochs=1), synthetic=SyntheticData())


async def chunks(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        await asyncio.sleep(0)
        yield part


@pytest_asyncio.fixture(loop_scope="function")
async def registry(tmp_path: Path) -> AsyncIterator[ModelRegistry]:
    store = await SqliteStore.open(tmp_path / "controller.db")
    artifacts = BlobStore(tmp_path / "files", max_bytes=1000)
    yield ModelRegistry(store, BlobStore(tmp_path / "models", max_bytes=100), artifacts)
    await store.close()


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
    assert registry.has_checkpoint("t1") and not registry.has_checkpoint("t3")
    await registry.save_task_output(Task(id="t1", spec=SPEC, output_model="mlp_t1"))
    model = await registry.get("mlp_t1")
    assert model.source_task_id == "t1" and model.size_bytes == len(b"weights")
    _, stream = await registry.read("mlp_t1")
    assert b"".join([c async for c in stream]) == b"weights"


async def test_a_task_without_a_checkpoint_or_whose_name_is_taken_saves_nothing(registry: ModelRegistry) -> None:
    with pytest.raises(FailedPrecondition) as err:
        await registry.save_task_output(Task(id="t3", spec=SPEC, output_model="never"))
    assert err.value.reason == "NO_CHECKPOINT"
    await registry.create("taken", chunks(b"first"))
    await registry.artifacts.write(("artifacts", "t4", CHECKPOINT_FILE), chunks(b"weights"))
    with pytest.raises(AlreadyExists):
        await registry.save_task_output(Task(id="t4", spec=SPEC, output_model="taken"))
    assert [(m.name, m.source_task_id) for m in await registry.list()] == [("taken", "")]
    _, stream = await registry.read("taken")
    assert b"".join([c async for c in stream]) == b"first"


async def test_concurrent_uploads_of_one_name_keep_one_consistent_model(registry: ModelRegistry) -> None:
    results = await asyncio.gather(
        registry.create("m", chunks(b"first", b"!")), registry.create("m", chunks(b"second")), return_exceptions=True
    )
    created = [r for r in results if not isinstance(r, BaseException)]
    assert len(created) == 1 and isinstance(next(r for r in results if r not in created), AlreadyExists)
    _, stream = await registry.read("m")
    assert hashlib.sha256(b"".join([c async for c in stream])).hexdigest() == created[0].sha256

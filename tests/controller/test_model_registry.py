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
from controller.domain.types import Model, ModelLocation, Task
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


async def test_a_model_registered_by_name_has_no_bytes_until_its_locations_say_where(
    registry: ModelRegistry, tmp_path: Path
) -> None:
    model = await registry.register(Model("llama", 13968179200, "", model_type="llm", source_url="https://h/m",
                                          metadata={"precision": "fp16"}))  # fmt: skip
    assert not model.has_content and model.create_time > 0
    with pytest.raises(FailedPrecondition, match="not in the registry"):
        await registry.read("llama")
    with pytest.raises(AlreadyExists):
        await registry.register(Model("llama", 1, ""))
    await registry.add_location("llama", ModelLocation("node1:disk", "downloading"))
    await registry.add_location("llama", ModelLocation("node2:gpu0"))
    await registry.add_location("llama", ModelLocation("node1:disk"))  # the same place: its new status
    assert (await registry.get("llama")).locations == (ModelLocation("node2:gpu0"), ModelLocation("node1:disk"))
    await registry.remove_location("llama", "node2:gpu0")
    with pytest.raises(NotFound):
        await registry.remove_location("llama", "node2:gpu0")
    with pytest.raises(InvalidArgument, match="NODE:DEVICE"):
        await registry.add_location("llama", ModelLocation("node1:tape"))
    # Kept as registered, in another store on the same file (what a restart reads).
    other = await SqliteStore.open(tmp_path / "controller.db")
    try:
        again = await other.get_model("llama")
    finally:
        await other.close()
    assert again is not None
    assert (again.model_type, again.source_url, again.metadata) == ("llm", "https://h/m", {"precision": "fp16"})
    assert again.locations == (ModelLocation("node1:disk"),) and again.size_bytes == 13968179200
    await registry.delete("llama")
    assert await registry.list() == []


@pytest.mark.parametrize("model", [
    Model("x", -1, ""), Model("x", 1, "", model_type="t" * 65), Model("x", 1, "", source_url="ftp://h/m"),
    Model("x", 1, "", source_url="no-scheme"), Model("x", 1, "", metadata={"k": "v" * (64 << 10)}),
    Model("../x", 1, ""),
])  # fmt: skip
async def test_a_bad_registration_is_refused_and_keeps_nothing(registry: ModelRegistry, model: Model) -> None:
    with pytest.raises(InvalidArgument):
        await registry.register(model)
    assert await registry.list() == []

"""Output models are saved off the agents' streams, and a failure is reported on the task (issue 9, item 6)."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest

from controller.domain.completion import OutputModels
from controller.domain.errors import NotFound
from controller.domain.models import ModelRegistry
from controller.domain.types import TaskState, TaskUpdate
from controller.store.blob_store import BlobStore
from controller.store.memory_store import MemoryStore
from taskspec.training import CHECKPOINT_FILE

sys.path.insert(0, str(Path(__file__).resolve().parent / "domain"))
from domain_parts import Parts, script  # noqa: E402


async def _chunks(data: bytes):
    yield data


async def farm_with_models(tmp_path: Path, store: MemoryStore | None = None) -> tuple[Parts, ModelRegistry, OutputModels, BlobStore]:
    parts = await Parts.open(store)
    files = BlobStore(tmp_path / "files", max_bytes=1 << 20)
    models = ModelRegistry(parts.store, BlobStore(tmp_path / "models", max_bytes=1 << 20), files)
    return parts, models, OutputModels(parts.book, models), files


async def complete(parts: Parts, files: BlobStore, task_id: str, weights: bytes) -> None:
    await parts.actions.create(script(task_id, output_model="m"))
    await parts.run_on(task_id, "n1")
    await files.write(("artifacts", task_id, CHECKPOINT_FILE), _chunks(weights))
    assert await parts.reports.apply_update("n1", TaskUpdate(task_id, 1, state=TaskState.COMPLETED))


async def test_a_completion_returns_before_its_model_is_saved_and_the_worker_saves_it(tmp_path: Path) -> None:
    parts, models, outputs, files = await farm_with_models(tmp_path)
    await parts.join("n1")
    await complete(parts, files, "a", b"weights-a")
    with pytest.raises(NotFound):
        await models.get("m")  # the report's handler did not copy the checkpoint itself
    worker = asyncio.create_task(outputs.run())
    try:
        for _ in range(100):
            await asyncio.sleep(0.01)
            if await parts.store.get_model("m"):
                break
        model = await models.get("m")
        assert model.source_task_id == "a" and model.size_bytes == len(b"weights-a")
    finally:
        worker.cancel()


async def test_a_taken_output_model_name_is_reported_on_the_task(tmp_path: Path) -> None:
    parts, models, outputs, files = await farm_with_models(tmp_path)
    await parts.join("n1")
    await complete(parts, files, "a", b"weights-a")
    await complete(parts, files, "b", b"weights-b")
    worker = asyncio.create_task(outputs.run())
    try:
        for _ in range(200):
            await asyncio.sleep(0.01)
            b = await parts.store.get_task("b")
            if "not saved" in b.state_reason:
                break
    finally:
        worker.cancel()
    b = await parts.store.get_task("b")
    assert b.state is TaskState.COMPLETED, "the work succeeded; only saving its model did not"
    assert "output model 'm' was not saved" in b.state_reason and "already exists" in b.state_reason
    lines = await parts.store.logs("b")
    assert lines and lines[-1].stream == "system" and "already exists" in lines[-1].text
    assert (await models.get("m")).source_task_id == "a", "the first model is untouched"
    assert models.blobs.read_all("m") == b"weights-a"


async def test_after_a_restart_a_completed_tasks_missing_model_is_saved(tmp_path: Path) -> None:
    parts, _, _, files = await farm_with_models(tmp_path)
    await parts.join("n1")
    await complete(parts, files, "a", b"weights-a")  # the controller stops before its worker ran
    restarted, models, outputs, _ = await farm_with_models(tmp_path, parts.store)
    await outputs.resume()
    worker = asyncio.create_task(outputs.run())
    try:
        for _ in range(100):
            await asyncio.sleep(0.01)
            if await restarted.store.get_model("m"):
                break
        assert (await models.get("m")).source_task_id == "a"
    finally:
        worker.cancel()

"""The data pool's domain on the memory store: what a chunk's source may be, a create that waits for its
node, the locations the queue's operations and the nodes' hellos leave, and deletes refused while tasks
name a chunk. No gRPC, no agents: the test plays the node."""

from __future__ import annotations

import asyncio
import base64
import hashlib
from pathlib import Path

import pytest

from controller.domain.data_pool import ChunkSource, DataPool
from controller.domain.errors import FailedPrecondition, InvalidArgument, NotFound, Unavailable
from controller.domain.peers import PeerPoint
from controller.domain.types import TaskResult, TaskState
from controller.store.blob_store import BlobStore
from domain_parts import Parts, node
from taskspec.model_operation import ModelOperationSpec, Operation, Pool


def test_a_source_is_base64_a_url_or_an_absolute_path() -> None:
    assert ChunkSource.parse(base64.b64encode(b"\xfb\xff").decode(), "") == ChunkSource(data=b"\xfb\xff")
    assert ChunkSource.parse(base64.urlsafe_b64encode(b"\xfb\xff").decode(), "") == ChunkSource(data=b"\xfb\xff")
    assert ChunkSource.parse("https://example.org/x.bin", "") == ChunkSource(url="https://example.org/x.bin")
    assert ChunkSource.parse("", "/srv/data/x.bin") == ChunkSource(url="file:///srv/data/x.bin")
    for data, source in [("", ""), ("  ", ""), ("not base64!", ""), ("", "relative/x.bin"), ("ftp://host/x", "")]:
        with pytest.raises(InvalidArgument):
            ChunkSource.parse(data, source)


async def _pool(parts: Parts, tmp_path: Path) -> DataPool:
    pool = DataPool(parts.store.data_chunks(), parts.book, parts.actions, parts.registry,
                    BlobStore(tmp_path / "staging", max_bytes=1 << 20), clock=parts.clock, create_timeout=5)  # fmt: skip
    await pool.load()
    return pool


async def _join(parts: Parts, node_id: str, gpus: int = 0) -> None:
    session, _ = await parts.nodes.join(node(node_id, gpus=gpus), [], None, PeerPoint("127.0.0.1", 7000))
    parts.sessions[node_id] = session


async def _finish(parts: Parts, node_id: str, state: TaskState = TaskState.COMPLETED, **result: object) -> str:
    """Place the one queued task on `node_id` and have it end in `state`; its id."""
    await parts.dispatcher.dispatch_once()
    [task] = [t for t in parts.book.active.values() if t.state is TaskState.ASSIGNED]
    await parts.run_on(task.id, node_id)
    assert await parts.report(node_id, task.id, task.attempt, state, result=TaskResult(**result))  # type: ignore[arg-type]
    return task.id


async def _created(parts: Parts, pool: DataPool, node_id: str, payload: bytes, device: str) -> str:
    creating = asyncio.create_task(pool.create(ChunkSource(data=payload), device=device))
    await asyncio.sleep(0.05)
    await _finish(parts, node_id, output_sha256=hashlib.sha256(payload).hexdigest())
    view, task = await creating
    assert task.state is TaskState.COMPLETED
    return view.chunk.id


async def test_a_create_answers_once_its_node_has_the_bytes_and_a_failed_one_leaves_nothing(tmp_path: Path) -> None:
    parts = await Parts.open()
    pool = await _pool(parts, tmp_path)
    await _join(parts, "n1")
    chunk_id = await _created(parts, pool, "n1", b"abc" * 100, "n1:dram")
    [view] = pool.list()
    assert (view.chunk.id, view.chunk.size, view.chunk.locations) == (chunk_id, 300, ("n1:dram",))
    assert view.chunk.sha256 == hashlib.sha256(b"abc" * 100).hexdigest()
    assert not pool.staging.exists(chunk_id), "the node has the bytes: the staged copy goes"
    spec = parts.book.working.get(f"data-create-{chunk_id}") or await parts.store.get_task(f"data-create-{chunk_id}")
    assert spec is not None and spec.spec == ModelOperationSpec(
        Operation.DOWNLOAD, chunk_id, target_device="dram", verify_checksum=True, sha256=view.chunk.sha256, pool=Pool.DATA)

    failing = asyncio.create_task(pool.create(ChunkSource(data=b"x"), device="n1:disk"))
    await asyncio.sleep(0.05)
    await _finish(parts, "n1", TaskState.FAILED, exit_code=1, error="disk full")
    with pytest.raises(FailedPrecondition, match="disk full"):
        await failing
    assert [v.chunk.id for v in pool.list()] == [chunk_id]


async def test_a_device_the_node_lacks_or_an_offline_node_is_refused_before_any_task(tmp_path: Path) -> None:
    parts = await Parts.open()
    pool = await _pool(parts, tmp_path)
    with pytest.raises(Unavailable):
        await pool.create(ChunkSource(data=b"x"))
    await _join(parts, "n1", gpus=1)
    with pytest.raises(InvalidArgument, match="has no gpu3: its devices are disk, dram, gpu0"):
        await pool.create(ChunkSource(data=b"x"), device="n1:gpu3")
    with pytest.raises(NotFound):
        await pool.create(ChunkSource(data=b"x"), device="n9:dram")
    with pytest.raises(InvalidArgument):
        await pool.create(ChunkSource(data=b"x"), device="n1:tape")
    assert pool.list() == [] and not parts.book.active


async def test_operations_and_hellos_keep_the_locations_and_a_restart_keeps_the_chunks(tmp_path: Path) -> None:
    parts = await Parts.open()
    pool = await _pool(parts, tmp_path)
    await _join(parts, "n1")
    await _join(parts, "n2")
    chunk_id = await _created(parts, pool, "n1", b"payload", "n1:dram")

    moved = await pool.move(chunk_id, "disk")
    assert pool.list()[0].pending == ("n1:disk",) and pool.list()[0].references == (moved.id,)
    await _finish(parts, "n1")
    await pool.record(parts.book.working.get(moved.id) or await parts.store.get_task(moved.id))  # type: ignore[arg-type]
    assert pool.list()[0].chunk.locations == ("n1:disk",)
    assert [v.chunk.id for v in pool.list(device="disk")] == [chunk_id] and pool.list(device="n2") == []
    assert pool.list(chunk_type="output") == []

    await pool.reconcile("n2", [(chunk_id, "dram"), ("chunk-unknown", "disk")])
    assert pool.list()[0].chunk.locations == ("n1:disk", "n2:dram")
    await pool.reconcile("n1", [])
    assert pool.list()[0].chunk.locations == ("n2:dram",), "a node that no longer holds it drops out"

    viewed = await pool.get(chunk_id)
    again = await (await _pool(await parts.restart(), tmp_path)).get(chunk_id)
    assert again.chunk.access_count == viewed.chunk.access_count + 1 == 2
    assert again.chunk.locations == ("n2:dram",)


async def test_a_delete_is_refused_while_a_task_names_the_chunk_unless_forced(tmp_path: Path) -> None:
    parts = await Parts.open()
    pool = await _pool(parts, tmp_path)
    await _join(parts, "n1")
    await _join(parts, "n2")
    chunk_id = await _created(parts, pool, "n1", b"payload", "n1:disk")
    sent = await pool.transfer(chunk_id, "n2", "dram", delete_source=True)
    assert pool.list()[0].pending == ("n2:dram",)
    with pytest.raises(FailedPrecondition, match="force=true"):
        await pool.delete(chunk_id)
    assert [v.chunk.id for v in pool.list()] == [chunk_id]
    cancelled, deletes = await pool.delete(chunk_id, force=True)
    assert sent.id in cancelled and len(cancelled) == 2, "the transfer and the delete that waited on it"
    [delete] = [parts.book.active[d] for d in deletes]
    assert (delete.resources.node, delete.spec.operation, delete.spec.source_device) == ("n1", Operation.DELETE, "disk")  # type: ignore[union-attr]
    assert pool.list() == []
    with pytest.raises(NotFound):
        await pool.get(chunk_id)

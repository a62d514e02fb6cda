"""DatasetLibrary: rows in the store (SQLite here), bytes in the BlobStore, kept consistent."""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path
from typing import AsyncIterator

import pytest
import pytest_asyncio

from controller.domain.datasets import BUILTIN_SYNTHETIC, DatasetLibrary
from controller.domain.errors import AlreadyExists, InvalidArgument, NotFound, ResourceExhausted
from controller.store.blob_store import BlobStore
from controller.store.sqlite_store import SqliteStore

# Builders -------------------------------------------------------------------


async def chunks(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        await asyncio.sleep(0)  # as a network stream would, let others run between chunks
        yield part


async def content(library: DatasetLibrary, dataset_id: str) -> bytes:
    _, stream = await library.read(dataset_id)
    return b"".join([c async for c in stream])


@pytest_asyncio.fixture(loop_scope="function")
async def library(tmp_path: Path) -> AsyncIterator[DatasetLibrary]:
    store = await SqliteStore.open(tmp_path / "controller.db")
    yield DatasetLibrary(store, BlobStore(tmp_path / "files", max_bytes=100))
    await store.close()


# Tests ------------------------------------------------------------------------


async def test_create_read_and_delete(library: DatasetLibrary) -> None:
    ds = await library.create("iris.csv", "", "flowers", chunks(b"a,b\n", b"1,2\n"))
    assert (ds.format, ds.size_bytes, ds.sha256) == ("csv", 8, hashlib.sha256(b"a,b\n1,2\n").hexdigest())
    assert await content(library, "iris.csv") == b"a,b\n1,2\n"
    assert [d.id for d in await library.list(offset=0, limit=10)] == ["iris.csv"]
    await library.delete("iris.csv")
    with pytest.raises(NotFound):
        await library.get("iris.csv")
    assert not library.blobs.exists("datasets", "iris.csv")
    with pytest.raises(NotFound):
        await library.delete("iris.csv")


@pytest.mark.parametrize("dataset_id", ["../x.csv", "a..b.csv", ".hidden.csv", "a/b.csv", ""])
async def test_bad_ids_are_refused(library: DatasetLibrary, dataset_id: str) -> None:
    with pytest.raises(InvalidArgument):
        await library.create(dataset_id, "csv", "", chunks(b"x"))


async def test_an_unknown_format_is_refused(library: DatasetLibrary) -> None:
    with pytest.raises(InvalidArgument, match="format"):
        await library.create("data.bin", "", "", chunks(b"x"))


async def test_an_upload_over_the_limit_leaves_nothing(library: DatasetLibrary) -> None:
    with pytest.raises(ResourceExhausted):
        await library.create("big.csv", "", "", chunks(b"x" * 60, b"x" * 60))
    assert await library.list(offset=0, limit=10) == []
    assert not library.blobs.exists("datasets", "big.csv")


async def test_an_existing_dataset_is_not_overwritten(library: DatasetLibrary) -> None:
    await library.create("d.csv", "", "", chunks(b"first"))
    with pytest.raises(AlreadyExists):
        await library.create("d.csv", "", "", chunks(b"second"))
    assert await content(library, "d.csv") == b"first"


async def test_concurrent_uploads_of_one_id_keep_one_consistent_dataset(library: DatasetLibrary) -> None:
    results = await asyncio.gather(
        library.create("d.csv", "", "", chunks(b"first", b"!")),
        library.create("d.csv", "", "", chunks(b"second", b"!")),
        return_exceptions=True,
    )
    created = [r for r in results if not isinstance(r, BaseException)]
    assert len(created) == 1 and isinstance(next(r for r in results if r not in created), AlreadyExists)
    stored = await library.get("d.csv")
    assert hashlib.sha256(await content(library, "d.csv")).hexdigest() == stored.sha256 == created[0].sha256


async def test_a_dataset_is_described_when_it_is_uploaded(library: DatasetLibrary) -> None:
    ds = await library.create("iris.csv", "", "", chunks(b"a,b,label\n1,2,0\n3,4,1\n5,6,0\n"))
    assert (ds.sample_count, ds.dimensions) == (3, "2")
    assert await library.get("iris.csv") == ds


async def test_the_builtin_dataset_is_added_once_and_an_upload_of_its_id_is_kept(tmp_path: Path) -> None:
    store = await SqliteStore.open(tmp_path / "controller.db")
    try:
        library = DatasetLibrary(store, BlobStore(tmp_path / "files", max_bytes=1 << 20))
        await library.ensure_builtin()
        builtin = await library.get(BUILTIN_SYNTHETIC)
        assert (builtin.format, builtin.sample_count, builtin.dimensions) == ("npz", 256, "3x16x16")
        await library.ensure_builtin()
        assert [d.id for d in await library.list(offset=0, limit=10)] == [BUILTIN_SYNTHETIC]
        await library.delete(BUILTIN_SYNTHETIC)
        await library.create(BUILTIN_SYNTHETIC, "csv", "mine", chunks(b"a,label\n1,0\n"))
        await library.ensure_builtin()
        assert (await library.get(BUILTIN_SYNTHETIC)).description == "mine", "a replacement is not overwritten"
    finally:
        await store.close()


async def test_a_library_may_keep_its_files_at_the_root_of_its_blob_store(tmp_path: Path) -> None:
    store = await SqliteStore.open(tmp_path / "controller.db")
    try:
        library = DatasetLibrary(store, BlobStore(tmp_path / "datasets", max_bytes=100), ())
        await library.create("d.csv", "", "", chunks(b"a\n1\n"))
        assert library.file_path("d.csv") == (tmp_path / "datasets" / "d.csv").resolve()
        assert await content(library, "d.csv") == b"a\n1\n"
    finally:
        await store.close()

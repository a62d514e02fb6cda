"""DatasetLibrary: rows in SQLite, bytes in the BlobStore, kept consistent."""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path
from typing import AsyncIterator

import pytest
import pytest_asyncio

from controller.domain.datasets import DatasetLibrary
from controller.domain.errors import AlreadyExists, InvalidArgument, NotFound, ResourceExhausted
from controller.store.blob_store import BlobStore
from controller.store.dataset_store import DatasetStore
from controller.store.db import Database

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
    db = await Database.open(tmp_path / "controller.db")
    yield DatasetLibrary(db, DatasetStore(db), BlobStore(tmp_path / "files", max_bytes=100))
    await db.close()


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

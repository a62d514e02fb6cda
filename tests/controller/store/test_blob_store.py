"""BlobStore: atomic streamed writes, a size limit, and no way out of its root."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import AsyncIterator, Callable

import pytest

from controller.domain.errors import InvalidArgument, ResourceExhausted
from controller.store.blob_store import BlobStore

# Builders -------------------------------------------------------------------


async def chunks(*parts: bytes, between: Callable[[], None] = lambda: None) -> AsyncIterator[bytes]:
    """Yield `parts`, calling `between` after each one has been taken."""
    for part in parts:
        yield part
        between()


async def broken_stream() -> AsyncIterator[bytes]:
    yield b"partial"
    raise ConnectionError("client went away")


async def read_all(store: BlobStore, *parts: str) -> bytes:
    return b"".join([chunk async for chunk in store.read(*parts)])


def leftovers(root: Path) -> list[str]:
    return [p.name for p in root.rglob(".upload-*")]


@pytest.fixture
def store(tmp_path: Path) -> BlobStore:
    return BlobStore(tmp_path / "files", max_bytes=1000)


# Writes -----------------------------------------------------------------------


async def test_a_write_streams_to_its_place_and_reports_size_and_hash(store: BlobStore) -> None:
    blob = await store.write(("datasets", "a.csv"), chunks(b"x,y\n", b"1,2\n"))
    assert blob.path == (store.root / "datasets" / "a.csv").resolve()
    assert (blob.size_bytes, blob.sha256) == (8, hashlib.sha256(b"x,y\n1,2\n").hexdigest())
    assert await read_all(store, "datasets", "a.csv") == b"x,y\n1,2\n"
    assert store.read_all("datasets", "a.csv") == b"x,y\n1,2\n" and store.exists("datasets", "a.csv")
    store.delete("datasets", "a.csv")
    assert not store.exists("datasets", "a.csv")


async def test_a_file_appears_only_when_complete(store: BlobStore) -> None:
    await store.write(("f",), chunks(b"old"))
    seen: list[bytes] = []
    await store.write(("f",), chunks(b"new-1", b"new-2", between=lambda: seen.append(store.read_all("f"))))
    assert seen == [b"old", b"old"], "readers see the old file until the new one is renamed into place"
    assert store.read_all("f") == b"new-1new-2"


async def test_a_broken_stream_leaves_the_old_file_and_no_temporary(store: BlobStore) -> None:
    await store.write(("f",), chunks(b"old"))
    with pytest.raises(ConnectionError):
        await store.write(("f",), broken_stream())
    assert store.read_all("f") == b"old"
    assert leftovers(store.root) == []


async def test_a_file_over_the_limit_is_refused_and_nothing_is_kept(store: BlobStore) -> None:
    await store.write(("exact",), chunks(b"a" * 600, b"b" * 400))
    with pytest.raises(ResourceExhausted, match="larger than the limit of 1000 bytes"):
        await store.write(("big",), chunks(b"a" * 600, b"b" * 401))
    assert not store.exists("big") and leftovers(store.root) == []
    assert len(store.read_all("exact")) == 1000


# Names ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "parts",
    [
        ("..", "escape"),
        ("datasets", "..", "..", "escape"),
        ("datasets/../../escape",),
        ("/etc/passwd",),
        ("datasets", "/tmp/escape"),
        (".",),
        ("datasets", ".."),
    ],
)
async def test_names_that_leave_the_root_are_refused(store: BlobStore, tmp_path: Path, parts: tuple[str, ...]) -> None:
    with pytest.raises(InvalidArgument):
        await store.write(parts, chunks(b"x"))
    with pytest.raises(InvalidArgument):
        store.read_all(*parts)
    with pytest.raises(InvalidArgument):
        store.delete(*parts)
    assert not (tmp_path / "escape").exists()


async def test_a_symlink_out_of_the_root_is_refused(store: BlobStore, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (store.root / "link").symlink_to(outside)
    with pytest.raises(InvalidArgument):
        await store.write(("link", "f"), chunks(b"x"))
    assert list(outside.iterdir()) == []

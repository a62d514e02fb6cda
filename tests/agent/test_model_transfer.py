"""Writing a model's bytes onto a device (agent.models.transfer) on a real directory: whole or not
at all, the sha256 checked, free space checked before the first byte, the pace held."""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from agent.models.errors import ModelOperationError
from agent.models.local_store import LocalModelStore
from agent.models.transfer import receive
from taskspec.model_operation import Pool


async def _chunks(data: bytes, size: int = 4096) -> AsyncIterator[bytes]:
    for at in range(0, len(data), size):
        yield data[at:at + size]


def _store(tmp_path: Path) -> LocalModelStore:
    return LocalModelStore(tmp_path / "agent", "node1", shm_root=tmp_path / "shm")


def test_bytes_arrive_whole_with_their_sha256(tmp_path: Path) -> None:
    store, data = _store(tmp_path), b"abc" * 10000
    arrival = asyncio.run(receive(store, "m", "disk", "t1", _chunks(data), size=len(data),
                                  expected_sha256=hashlib.sha256(data).hexdigest()))  # fmt: skip
    assert store.path("m", "disk").read_bytes() == data and arrival.size == len(data)
    assert store.sha256("m", "disk") == hashlib.sha256(data).hexdigest()
    assert [(h.model, h.device) for h in store.held()] == [("m", "disk")]


@pytest.mark.parametrize(("announced", "expected", "code"), [
    (10, "", "NETWORK_ERROR"),          # more bytes than announced
    (10**6, "", "NETWORK_ERROR"),       # fewer
    (-1, "0" * 64, "TASK_FAILED"),      # a checksum mismatch
    (10**15, "", "RESOURCE_UNAVAILABLE"),  # more than the disk has free
])  # fmt: skip
def test_a_failed_transfer_keeps_nothing(tmp_path: Path, announced: int, expected: str, code: str) -> None:
    store = _store(tmp_path)
    with pytest.raises(ModelOperationError) as failed:
        asyncio.run(receive(store, "m", "disk", "t1", _chunks(b"x" * 5000), size=announced, expected_sha256=expected))
    assert failed.value.code == code
    assert list(store.root("disk").iterdir()) == []


def test_names_and_devices_cannot_leave_the_store(tmp_path: Path) -> None:
    store = _store(tmp_path)
    for model, device in (("../x", "disk"), ("a/b", "disk"), ("m", "../disk"), ("m", "tape"), (".hidden", "disk")):
        with pytest.raises(ModelOperationError) as refused:
            store.path(model, device)
        assert refused.value.code == "INVALID_REQUEST"
    with pytest.raises(ModelOperationError) as no_gpu:
        store.path("m", "gpu0")
    assert no_gpu.value.code == "RESOURCE_UNAVAILABLE" and "has no gpu0" in str(no_gpu.value)


def test_a_bandwidth_limit_holds_the_pace(tmp_path: Path) -> None:
    store, data = _store(tmp_path), b"y" * 200_000
    start = time.monotonic()
    asyncio.run(receive(store, "m", "disk", "t1", _chunks(data, 20_000), size=len(data), bandwidth_limit=500_000))
    assert time.monotonic() - start >= 0.35  # 200 kB at 500 kB/s: 0.4 s, less the first chunk's head start


def test_a_data_chunk_and_a_model_of_one_name_are_kept_apart(tmp_path: Path) -> None:
    (tmp_path / "shm").mkdir()
    models, data = _store(tmp_path), LocalModelStore(tmp_path / "agent", "node1", shm_root=tmp_path / "shm", pool=Pool.DATA)
    for store, payload in ((models, b"model bytes"), (data, b"chunk bytes")):
        for device in ("disk", "dram"):
            asyncio.run(receive(store, "chunk-a1b2c3d4e5f6", device, "t1", _chunks(payload), size=len(payload),
                                expected_sha256=hashlib.sha256(payload).hexdigest()))  # fmt: skip
    assert data.path("chunk-a1b2c3d4e5f6", "disk") == tmp_path / "agent/local-data/disk/chunk-a1b2c3d4e5f6"
    assert data.path("chunk-a1b2c3d4e5f6", "dram") == tmp_path / "shm/aifarm-node1-data/chunk-a1b2c3d4e5f6"
    assert models.path("chunk-a1b2c3d4e5f6", "dram").read_bytes() == b"model bytes"
    assert data.path("chunk-a1b2c3d4e5f6", "dram").read_bytes() == b"chunk bytes"
    assert {(h.model, h.device) for h in data.held()} == {("chunk-a1b2c3d4e5f6", "disk"), ("chunk-a1b2c3d4e5f6", "dram")}
    data.remove("chunk-a1b2c3d4e5f6", "disk")
    assert models.path("chunk-a1b2c3d4e5f6", "disk").read_bytes() == b"model bytes"

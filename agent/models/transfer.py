"""Writing a model's bytes onto a device: bounded by free space, paced to a bandwidth limit, hashed on
the way, checked against the sha256 expected, and placed under the model's name only when whole."""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import BinaryIO
from dataclasses import dataclass

from agent.models.errors import ModelOperationError
from agent.models.local_store import LocalModelStore

#: Progress is reported at most this often.
PROGRESS_SECONDS = 0.5
#: Pieces read and sent: large enough that the per-piece costs (a thread hop, a gRPC message) stay small.
CHUNK_BYTES = 1 << 20


@dataclass
class Arrival:
    """What one transfer wrote."""

    size: int
    sha256: str
    seconds: float


class Pacer:
    """Holds a stream to `rate` bytes per second on average (0: no limit)."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self._start = time.monotonic()
        self._sent = 0

    async def passed(self, size: int) -> None:
        if self.rate <= 0:
            return
        self._sent += size
        ahead = self._sent / self.rate - (time.monotonic() - self._start)
        if ahead > 0:
            await asyncio.sleep(ahead)


async def receive(
    store: LocalModelStore, model: str, device: str, task_id: str, chunks: AsyncIterator[bytes], *,
    size: int, expected_sha256: str = "", bandwidth_limit: float = 0.0,
    progress: Callable[[float], None] = lambda _: None,
) -> Arrival:  # fmt: skip
    """Write `chunks` (`size` bytes, -1 when unknown) as `model` on `device`; nothing stays under
    its name unless every byte arrived and, with `expected_sha256`, matched it."""
    part = store.part_path(model, device, task_id)
    if size >= 0:
        free = store.free_bytes(device)
        if size > free:
            raise ModelOperationError("RESOURCE_UNAVAILABLE", f"{model} needs {size} bytes on {device}; only {free} are free")
    digest, written, started, reported = hashlib.sha256(), 0, time.monotonic(), 0.0
    pacer = Pacer(bandwidth_limit)
    try:
        with part.open("wb") as out:
            async for chunk in chunks:
                # Off the loop (hashlib and file writes release the GIL): the next chunk arrives meanwhile.
                await asyncio.to_thread(_store_chunk, out, digest, chunk)
                written += len(chunk)
                if size >= 0 and written > size:
                    raise ModelOperationError("NETWORK_ERROR", f"the source sent more than the {size} bytes it announced")
                await pacer.passed(len(chunk))
                if size > 0 and time.monotonic() - reported >= PROGRESS_SECONDS:
                    reported = time.monotonic()
                    progress(min(written / size, 0.99))
        if size >= 0 and written != size:
            raise ModelOperationError("NETWORK_ERROR", f"the transfer ended after {written} of {size} bytes")
        sha = digest.hexdigest()
        if expected_sha256 and sha != expected_sha256:
            raise ModelOperationError("TASK_FAILED", f"checksum mismatch: {model} has sha256 {sha}, the registry"
                                      f" expects {expected_sha256}; nothing was kept")  # fmt: skip
        store.place(part, model, device, sha)
    except BaseException:  # cancelled too: a partial file never stays
        part.unlink(missing_ok=True)
        raise
    return Arrival(written, sha, time.monotonic() - started)


def _store_chunk(out: BinaryIO, digest: "hashlib._Hash", chunk: bytes) -> None:
    out.write(chunk)
    digest.update(chunk)


async def file_chunks(path: Path, chunk_size: int = CHUNK_BYTES) -> AsyncIterator[bytes]:
    """A file's bytes, read off the event loop."""
    with open(path, "rb") as f:
        while chunk := await asyncio.to_thread(f.read, chunk_size):
            yield chunk

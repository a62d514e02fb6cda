"""Files kept by the controller (datasets, artifacts), written atomically and streamed.

Names are validated by the domain before they get here; this module still
refuses anything that would leave its root, as a second line of defence.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import AsyncIterable, AsyncIterator

from controller.domain.errors import InvalidArgument, ResourceExhausted

CHUNK = 1 << 20


@dataclass(frozen=True)
class StoredBlob:
    path: Path
    size_bytes: int
    sha256: str


class BlobStore:
    def __init__(self, root: Path, *, max_bytes: int) -> None:
        self.root = root
        self.max_bytes = max_bytes
        root.mkdir(parents=True, exist_ok=True)

    def path(self, *parts: str) -> Path:
        target = self.root.joinpath(*parts).resolve()
        if not target.is_relative_to(self.root.resolve()) or target == self.root.resolve():
            raise InvalidArgument(f"invalid file name {'/'.join(parts)!r}")
        return target

    async def write(self, parts: tuple[str, ...], chunks: AsyncIterable[bytes]) -> StoredBlob:
        """Stream chunks to a temporary file, then rename it into place."""
        target = self.path(*parts)
        target.parent.mkdir(parents=True, exist_ok=True)
        digest, size = hashlib.sha256(), 0
        fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=".upload-")
        try:
            with os.fdopen(fd, "wb") as out:
                async for chunk in chunks:
                    size += len(chunk)
                    if size > self.max_bytes:
                        raise ResourceExhausted(
                            f"file is larger than the limit of {self.max_bytes} bytes"
                            " (raise it with --max-upload-mb)"
                        )
                    digest.update(chunk)
                    await asyncio.to_thread(out.write, chunk)
            os.replace(tmp_name, target)
        except BaseException:
            Path(tmp_name).unlink(missing_ok=True)
            raise
        return StoredBlob(target, size, digest.hexdigest())

    async def read(self, *parts: str) -> AsyncIterator[bytes]:
        path = self.path(*parts)
        with path.open("rb") as f:
            while chunk := await asyncio.to_thread(f.read, CHUNK):
                yield chunk

    def read_all(self, *parts: str) -> bytes:
        return self.path(*parts).read_bytes()

    def exists(self, *parts: str) -> bool:
        return self.path(*parts).is_file()

    def delete(self, *parts: str) -> None:
        self.path(*parts).unlink(missing_ok=True)

    def delete_tree(self, *parts: str) -> int:
        """Remove a folder of files (one level, as artifacts are kept); returns how many files went."""
        folder = self.path(*parts)
        if not folder.is_dir():
            return 0
        files = [f for f in folder.iterdir() if f.is_file()]
        for f in files:
            f.unlink(missing_ok=True)
        shutil.rmtree(folder, ignore_errors=True)
        return len(files)

"""The data pool's chunks in SQLite (schema 16): one row each, written whole."""

from __future__ import annotations

import json
from collections.abc import Sequence

from controller.domain.data_pool import DataChunk
from controller.store.db import Database

_COLUMNS = "id, chunk_type, format, size, sha256, metadata, locations, created_by, created_at, last_accessed, access_count"


def _chunk(row: Sequence) -> DataChunk:
    return DataChunk(id=row[0], chunk_type=row[1], format=row[2], size=row[3], sha256=row[4], metadata=json.loads(row[5]),
                     locations=tuple(json.loads(row[6])), created_by=row[7], created_at=row[8], last_accessed=row[9],
                     access_count=row[10])  # fmt: skip


class SqliteChunkStore:
    """Implements controller.domain.data_pool.ChunkStore."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def put(self, chunk: DataChunk) -> None:
        async with self.db.write() as conn:
            await conn.execute(f"INSERT OR REPLACE INTO data_chunks ({_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?)", (
                chunk.id, chunk.chunk_type, chunk.format, chunk.size, chunk.sha256, json.dumps(dict(chunk.metadata)),
                json.dumps(list(chunk.locations)), chunk.created_by, chunk.created_at, chunk.last_accessed,
                chunk.access_count))  # fmt: skip

    async def delete(self, chunk_id: str) -> None:
        async with self.db.write() as conn:
            await conn.execute("DELETE FROM data_chunks WHERE id = ?", (chunk_id,))

    async def all(self) -> list[DataChunk]:
        async with self.db.read() as conn:
            rows = await conn.execute_fetchall(f"SELECT {_COLUMNS} FROM data_chunks ORDER BY created_at, id")
        return [_chunk(r) for r in rows]

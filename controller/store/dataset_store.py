"""Rows of datasets (their bytes live in the BlobStore)."""

from __future__ import annotations

import aiosqlite

from controller.domain.types import Dataset
from controller.store.db import Database


class DatasetStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def insert(self, conn: aiosqlite.Connection, ds: Dataset) -> None:
        await conn.execute(
            "INSERT INTO datasets (id, format, size_bytes, sha256, description, create_time, sample_count, dimensions)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (ds.id, ds.format, ds.size_bytes, ds.sha256, ds.description, ds.create_time, ds.sample_count,
             ds.dimensions),  # fmt: skip
        )

    async def delete(self, conn: aiosqlite.Connection, dataset_id: str) -> bool:
        cur = await conn.execute("DELETE FROM datasets WHERE id=?", (dataset_id,))
        return cur.rowcount > 0

    async def get(self, dataset_id: str) -> Dataset | None:
        async with self.db.conn.execute("SELECT * FROM datasets WHERE id=?", (dataset_id,)) as cur:
            row = await cur.fetchone()
        return _from_row(row) if row else None

    async def list(self, *, offset: int, limit: int) -> list[Dataset]:
        sql = "SELECT * FROM datasets ORDER BY id LIMIT ? OFFSET ?"
        async with self.db.conn.execute(sql, (limit, offset)) as cur:
            return [_from_row(row) async for row in cur]


def _from_row(row: aiosqlite.Row) -> Dataset:
    return Dataset(
        id=row["id"],
        format=row["format"],
        size_bytes=row["size_bytes"],
        sha256=row["sha256"],
        description=row["description"],
        create_time=row["create_time"],
        sample_count=row["sample_count"],
        dimensions=row["dimensions"],
    )

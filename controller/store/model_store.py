"""Rows of the model registry (the files live in the models BlobStore)."""

from __future__ import annotations

import aiosqlite

from controller.domain.types import Model
from controller.store.db import Database


class ModelStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def insert(self, conn: aiosqlite.Connection, model: Model) -> None:
        """Raises sqlite3.IntegrityError when the name is taken."""
        await conn.execute(
            "INSERT INTO models (name, size_bytes, sha256, source_task_id, create_time) VALUES (?, ?, ?, ?, ?)",
            (model.name, model.size_bytes, model.sha256, model.source_task_id, model.create_time),
        )

    async def delete(self, conn: aiosqlite.Connection, name: str) -> bool:
        cur = await conn.execute("DELETE FROM models WHERE name=?", (name,))
        return cur.rowcount > 0

    async def get(self, name: str) -> Model | None:
        async with self.db.conn.execute("SELECT * FROM models WHERE name=?", (name,)) as cur:
            row = await cur.fetchone()
        return _from_row(row) if row else None

    async def list(self) -> list[Model]:
        async with self.db.conn.execute("SELECT * FROM models ORDER BY create_time, name") as cur:
            return [_from_row(row) async for row in cur]


def _from_row(row: aiosqlite.Row) -> Model:
    return Model(
        name=row["name"],
        size_bytes=row["size_bytes"],
        sha256=row["sha256"],
        source_task_id=row["source_task_id"],
        create_time=row["create_time"],
    )

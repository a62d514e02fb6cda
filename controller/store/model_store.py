"""Rows of the model registry (the files live in the models BlobStore)."""

from __future__ import annotations

import json
from collections.abc import Sequence

import aiosqlite

from controller.domain.types import Model, ModelLocation


async def insert(conn: aiosqlite.Connection, models: Sequence[Model]) -> None:
    """Raises sqlite3.IntegrityError when a name is taken."""
    await conn.executemany(
        "INSERT INTO models (name, size_bytes, sha256, source_task_id, create_time, model_type, source_url, metadata,"
        " locations) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [(m.name, m.size_bytes, m.sha256, m.source_task_id, m.create_time, m.model_type, m.source_url,
          json.dumps(m.metadata), json.dumps([[loc.device, loc.status] for loc in m.locations])) for m in models],
    )  # fmt: skip


async def delete(conn: aiosqlite.Connection, names: Sequence[str]) -> None:
    await conn.executemany("DELETE FROM models WHERE name=?", [(n,) for n in names])


async def get(conn: aiosqlite.Connection, name: str) -> Model | None:
    rows = await conn.execute_fetchall("SELECT * FROM models WHERE name=?", (name,))
    row = rows[0] if rows else None
    return _from_row(row) if row else None


async def all_models(conn: aiosqlite.Connection) -> list[Model]:
    rows = await conn.execute_fetchall("SELECT * FROM models ORDER BY create_time, name")
    return [_from_row(row) for row in rows]


def _from_row(row: aiosqlite.Row) -> Model:
    return Model(
        name=row["name"],
        size_bytes=row["size_bytes"],
        sha256=row["sha256"],
        source_task_id=row["source_task_id"],
        create_time=row["create_time"],
        model_type=row["model_type"],
        source_url=row["source_url"],
        metadata=json.loads(row["metadata"]),
        locations=tuple(ModelLocation(device, status) for device, status in json.loads(row["locations"])),
    )

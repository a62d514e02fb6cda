"""Rows of datasets (their bytes live in the BlobStore)."""

from __future__ import annotations

from collections.abc import Sequence

import aiosqlite

from controller.domain.types import Dataset


async def insert(conn: aiosqlite.Connection, datasets: Sequence[Dataset]) -> None:
    await conn.executemany(
        "INSERT INTO datasets (id, format, size_bytes, sha256, description, create_time, sample_count, dimensions)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        [(d.id, d.format, d.size_bytes, d.sha256, d.description, d.create_time, d.sample_count, d.dimensions)
         for d in datasets],
    )  # fmt: skip


async def delete(conn: aiosqlite.Connection, dataset_ids: Sequence[str]) -> None:
    await conn.executemany("DELETE FROM datasets WHERE id=?", [(i,) for i in dataset_ids])


async def get(conn: aiosqlite.Connection, dataset_id: str) -> Dataset | None:
    rows = await conn.execute_fetchall("SELECT * FROM datasets WHERE id=?", (dataset_id,))
    row = rows[0] if rows else None
    return _from_row(row) if row else None


async def page(conn: aiosqlite.Connection, *, offset: int, limit: int) -> list[Dataset]:
    rows = await conn.execute_fetchall("SELECT * FROM datasets ORDER BY id LIMIT ? OFFSET ?", (limit, offset))
    return [_from_row(row) for row in rows]


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

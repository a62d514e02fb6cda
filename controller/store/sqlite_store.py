"""The domain's Store on SQLite: reads on the read-only connections, each commit one write transaction."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path

import aiosqlite
import structlog

from controller.domain.store import Changes, Conflict, StoreUnavailable, TaskPage, TaskQuery
from controller.domain.types import (
    AttemptRecord,
    Dataset,
    LogLine,
    MetricPoint,
    Model,
    Node,
    NodeCredential,
    Task,
    TaskState,
)
from controller.store import dataset_store, model_store, node_store, task_store
from controller.store.db import Database
from controller.store.chunk_store import SqliteChunkStore
from controller.store.client_group_store import SqliteClientGroupStore
from controller.store.profiling_store import SqliteProfilingStore

log = structlog.get_logger(__name__)


class SqliteStore:
    """Implements controller.domain.store.Store."""

    def __init__(self, db: Database) -> None:
        self.db = db

    @classmethod
    async def open(cls, path: Path) -> SqliteStore:
        return cls(await Database.open(path))

    async def close(self) -> None:
        await self.db.close()

    def profiling(self) -> SqliteProfilingStore:
        return SqliteProfilingStore(self.db)

    def data_chunks(self) -> SqliteChunkStore:
        return SqliteChunkStore(self.db)

    def client_groups(self) -> SqliteClientGroupStore:
        return SqliteClientGroupStore(self.db)

    # Tasks ------------------------------------------------------------------------

    async def get_task(self, task_id: str) -> Task | None:
        async with self.db.read() as conn:
            return await task_store.get(conn, task_id)

    async def task_by_request_id(self, request_id: str) -> Task | None:
        async with self.db.read() as conn:
            return await task_store.by_request_id(conn, request_id)

    async def task_states(self, task_ids: Sequence[str]) -> dict[str, TaskState]:
        if not task_ids:
            return {}
        async with self.db.read() as conn:
            return await task_store.states(conn, task_ids)

    async def active_tasks(self) -> list[Task]:
        async with self.db.read() as conn:
            return await task_store.active(conn)

    async def list_tasks(self, query: TaskQuery) -> TaskPage:
        async with self.db.read() as conn:
            return await task_store.page(conn, query)

    async def count_tasks_by_state(self) -> dict[TaskState, int]:
        async with self.db.read() as conn:
            return await task_store.count_by_state(conn)

    async def completed_with_output_model(self) -> list[Task]:
        async with self.db.read() as conn:
            return await task_store.completed_with_output_model(conn)

    async def logs(self, task_id: str, *, after_seq: int = 0, limit: int = 1000, tail: int = 0) -> list[LogLine]:
        async with self.db.read() as conn:
            return await task_store.logs(conn, task_id, after_seq=after_seq, limit=limit, tail=tail)

    async def last_line_no(self, task_id: str, attempt: int) -> int:
        async with self.db.read() as conn:
            return await task_store.last_line_no(conn, task_id, attempt)

    async def metrics(self, task_id: str) -> list[MetricPoint]:
        async with self.db.read() as conn:
            return await task_store.metrics(conn, task_id)

    async def attempts(self, task_id: str) -> list[AttemptRecord]:
        async with self.db.read() as conn:
            return await task_store.attempts(conn, task_id)

    # Nodes, datasets, models --------------------------------------------------------

    async def all_nodes(self) -> list[Node]:
        async with self.db.read() as conn:
            return await node_store.all_nodes(conn)

    async def get_dataset(self, dataset_id: str) -> Dataset | None:
        async with self.db.read() as conn:
            return await dataset_store.get(conn, dataset_id)

    async def list_datasets(self, *, offset: int, limit: int) -> list[Dataset]:
        async with self.db.read() as conn:
            return await dataset_store.page(conn, offset=offset, limit=limit)

    async def get_model(self, name: str) -> Model | None:
        async with self.db.read() as conn:
            return await model_store.get(conn, name)

    async def list_models(self) -> list[Model]:
        async with self.db.read() as conn:
            return await model_store.all_models(conn)

    async def all_credentials(self) -> list[NodeCredential]:
        async with self.db.read() as conn:
            return await node_store.all_credentials(conn)

    # Writing --------------------------------------------------------------------------

    async def commit(self, changes: Changes) -> None:
        await self.commit_all([changes])

    async def commit_all(self, batch: Sequence[Changes]) -> None:
        try:
            async with self.db.write() as conn:
                for changes in batch:
                    await _apply(conn, changes)
        except sqlite3.IntegrityError as exc:
            raise Conflict(str(exc)) from exc
        except (sqlite3.Error, ValueError) as exc:
            # aiosqlite raises ValueError once its connection is closed.
            log.error("store commit failed", error=str(exc))
            raise StoreUnavailable(f"the database failed: {exc}") from exc

    async def ping(self) -> bool:
        return await self.db.ping()


async def _apply(conn: aiosqlite.Connection, changes: Changes) -> None:
    """One Changes, in a fixed order: deletes first, then creates, updates, respecifications."""
    if changes.deleted:
        await task_store.delete(conn, changes.deleted)
    if changes.created:
        await task_store.insert(conn, changes.created)
    if changes.updated:
        await task_store.update_state(conn, changes.updated)
    if changes.respecified:
        await task_store.update_spec(conn, changes.respecified)
    if changes.metrics:
        await task_store.add_metrics(conn, changes.metrics)
    if changes.logs:
        await task_store.append_logs(conn, changes.logs)
    if changes.artifacts:
        await task_store.put_artifacts(conn, changes.artifacts)
    if changes.nodes:
        await node_store.upsert(conn, changes.nodes)
    if changes.node_states:
        await node_store.set_states(conn, changes.node_states)
    if changes.deleted_datasets:
        await dataset_store.delete(conn, changes.deleted_datasets)
    if changes.new_datasets:
        await dataset_store.insert(conn, changes.new_datasets)
    if changes.deleted_models:
        await model_store.delete(conn, changes.deleted_models)
    if changes.new_models:
        await model_store.insert(conn, changes.new_models)
    if changes.credentials:
        await node_store.insert_or_revoke_credentials(conn, changes.credentials)

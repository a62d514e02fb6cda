"""Rows of tasks, their logs, metrics and artifacts."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any, Iterable, Sequence

import aiosqlite

from controller.domain.types import (
    Artifact,
    AttemptRecord,
    LogLine,
    MetricPoint,
    Priority,
    Resources,
    Task,
    TaskResult,
    TaskSpec,
    TaskState,
)
from controller.store.db import Database

_TASK_COLUMNS = (
    "id, request_id, display_name, kind, spec, resources, priority, depends_on,"
    " time_limit_seconds, max_retries, labels, state, state_reason, attempt, failures,"
    " node_id, gpu_indices, progress, metrics, exit_code, output_sha256, error, create_time,"
    " start_time, end_time, update_time, concurrency_group, output_model, held"
)


def _task_params(t: Task) -> tuple[Any, ...]:
    return (
        t.id, t.request_id or None, t.display_name, t.spec.kind, t.spec.payload,
        json.dumps(asdict(t.resources)), int(t.priority), json.dumps(t.depends_on),
        t.time_limit_seconds, t.max_retries, json.dumps(t.labels), t.state.value,
        t.state_reason, t.attempt, t.failures, t.node_id, json.dumps(t.gpu_indices), t.progress, json.dumps(t.metrics),
        t.result.exit_code, t.result.output_sha256, t.result.error, t.create_time,
        t.start_time, t.end_time, t.update_time, t.concurrency_group, t.output_model, int(t.held),
    )  # fmt: skip


def _task_from_row(row: aiosqlite.Row) -> Task:
    return Task(
        id=row["id"],
        request_id=row["request_id"] or "",
        display_name=row["display_name"],
        spec=TaskSpec(kind=row["kind"], payload=row["spec"]),
        resources=Resources(**json.loads(row["resources"])),
        priority=Priority(row["priority"]),
        depends_on=json.loads(row["depends_on"]),
        time_limit_seconds=row["time_limit_seconds"],
        max_retries=row["max_retries"],
        labels=json.loads(row["labels"]),
        state=TaskState(row["state"]),
        state_reason=row["state_reason"],
        attempt=row["attempt"],
        failures=row["failures"],
        node_id=row["node_id"],
        gpu_indices=tuple(json.loads(row["gpu_indices"])),
        progress=row["progress"],
        metrics=json.loads(row["metrics"]),
        result=TaskResult(row["exit_code"], row["output_sha256"], row["error"]),
        create_time=row["create_time"],
        start_time=row["start_time"],
        end_time=row["end_time"],
        update_time=row["update_time"],
        concurrency_group=row["concurrency_group"],
        output_model=row["output_model"],
        held=bool(row["held"]),
    )


class TaskStore:
    """Persistence of tasks. Methods that take `conn` run inside a caller's write."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def insert(self, conn: aiosqlite.Connection, task: Task) -> None:
        marks = ", ".join("?" * len(_task_params(task)))
        await conn.execute(f"INSERT INTO tasks ({_TASK_COLUMNS}) VALUES ({marks})", _task_params(task))

    async def save_many(self, conn: aiosqlite.Connection, tasks: Iterable[Task]) -> None:
        """Write the mutable columns of existing tasks, and the record of each one's current attempt."""
        tasks = list(tasks)
        rows = [
            (
                t.state.value, t.state_reason, t.attempt, t.failures, t.node_id,
                json.dumps(t.gpu_indices), t.progress,
                json.dumps(t.metrics), t.result.exit_code, t.result.output_sha256, t.result.error,
                t.start_time, t.end_time, t.update_time, t.spec.kind, t.spec.payload, int(t.held),
                t.time_limit_seconds, t.id,
            )  # fmt: skip
            for t in tasks
        ]
        await conn.executemany(
            "UPDATE tasks SET state=?, state_reason=?, attempt=?, failures=?, node_id=?,"
            " gpu_indices=?, progress=?, metrics=?, exit_code=?, output_sha256=?, error=?, start_time=?,"
            " end_time=?, update_time=?, kind=?, spec=?, held=?, time_limit_seconds=? WHERE id=?",
            rows,
        )
        # A requeued attempt (pending again, its node cleared) keeps the record it last had.
        attempts = [
            (t.id, t.attempt, t.node_id, t.state.value, t.start_time, t.end_time if t.state.terminal else 0.0,
             t.result.exit_code, t.result.output_sha256, t.result.error)
            for t in tasks
            if t.attempt > 0 and t.node_id and (t.state.placed or t.state.terminal)
        ]  # fmt: skip
        await conn.executemany(
            "INSERT OR REPLACE INTO task_attempts (task_id, attempt, node_id, state, start_time, end_time,"
            " exit_code, output_sha256, error) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            attempts,
        )

    async def attempts(self, task_id: str) -> list[AttemptRecord]:
        """Every attempt of a task that was placed, oldest first."""
        sql = "SELECT * FROM task_attempts WHERE task_id=? ORDER BY attempt"
        async with self.db.conn.execute(sql, (task_id,)) as cur:
            return [
                AttemptRecord(
                    row["attempt"], row["node_id"], TaskState(row["state"]), row["start_time"], row["end_time"],
                    row["exit_code"], row["output_sha256"], row["error"],
                )  # fmt: skip
                async for row in cur
            ]

    async def delete(self, conn: aiosqlite.Connection, task_id: str) -> None:
        """Remove a task with its logs, metrics, artifact rows and attempt records."""
        for table, column in (("task_logs", "task_id"), ("task_metrics", "task_id"), ("artifacts", "task_id"),
                              ("task_attempts", "task_id"), ("tasks", "id")):  # fmt: skip
            await conn.execute(f"DELETE FROM {table} WHERE {column}=?", (task_id,))

    async def get(self, task_id: str) -> Task | None:
        async with self.db.conn.execute(f"SELECT {_TASK_COLUMNS} FROM tasks WHERE id=?", (task_id,)) as cur:
            row = await cur.fetchone()
        if row is None:
            return None
        task = _task_from_row(row)
        task.artifacts = await self.artifacts(task_id)
        return task

    async def get_by_request_id(self, request_id: str) -> Task | None:
        async with self.db.conn.execute("SELECT id FROM tasks WHERE request_id=?", (request_id,)) as cur:
            row = await cur.fetchone()
        return await self.get(row["id"]) if row else None

    async def states(self, task_ids: Sequence[str]) -> dict[str, TaskState]:
        if not task_ids:
            return {}
        marks = ", ".join("?" * len(task_ids))
        sql = f"SELECT id, state FROM tasks WHERE id IN ({marks})"
        async with self.db.conn.execute(sql, tuple(task_ids)) as cur:
            return {row["id"]: TaskState(row["state"]) async for row in cur}

    async def active(self) -> list[Task]:
        """Every task that is not terminal, oldest first."""
        terminal = tuple(s.value for s in (TaskState.COMPLETED, TaskState.FAILED, TaskState.CANCELLED))
        sql = f"SELECT {_TASK_COLUMNS} FROM tasks WHERE state NOT IN (?, ?, ?) ORDER BY create_time"
        async with self.db.conn.execute(sql, terminal) as cur:
            return [_task_from_row(row) async for row in cur]

    async def list(
        self, *, states: Sequence[TaskState], node_id: str, offset: int, limit: int, group: str = ""
    ) -> tuple[list[Task], int]:
        """A page of tasks, newest first, and the number matching over all pages."""
        where, params = [], []
        if group:
            where.append("concurrency_group = ?")
            params.append(group)
        if states:
            where.append(f"state IN ({', '.join('?' * len(states))})")
            params += [s.value for s in states]
        if node_id:
            where.append("node_id = ?")
            params.append(node_id)
        clause = f"WHERE {' AND '.join(where)}" if where else ""
        async with self.db.conn.execute(f"SELECT COUNT(*) FROM tasks {clause}", params) as cur:
            total = (await cur.fetchone())[0]
        sql = f"SELECT {_TASK_COLUMNS} FROM tasks {clause} ORDER BY create_time DESC, id LIMIT ? OFFSET ?"
        async with self.db.conn.execute(sql, [*params, limit, offset]) as cur:
            tasks = [_task_from_row(row) async for row in cur]
        return tasks, total

    async def count_by_state(self) -> dict[TaskState, int]:
        async with self.db.conn.execute("SELECT state, COUNT(*) FROM tasks GROUP BY state") as cur:
            return {TaskState(row[0]): row[1] async for row in cur}

    # Logs -------------------------------------------------------------------

    async def append_logs(self, conn: aiosqlite.Connection, task_id: str, lines: Sequence[LogLine]) -> None:
        """Insert lines; a line already stored (a replay) is ignored."""
        await conn.executemany(
            "INSERT OR IGNORE INTO task_logs (task_id, attempt, line_no, stream, text, time)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            [(task_id, ln.attempt, ln.line_no, ln.stream, ln.text, ln.time) for ln in lines],
        )

    async def line_count(self, task_id: str, attempt: int) -> int:
        """The highest line number stored for an attempt (0 when none)."""
        sql = "SELECT COALESCE(MAX(line_no), 0) FROM task_logs WHERE task_id=? AND attempt=?"
        async with self.db.conn.execute(sql, (task_id, attempt)) as cur:
            return (await cur.fetchone())[0]

    async def logs(self, task_id: str, *, after_seq: int = 0, limit: int = 1000, tail: int = 0) -> list[LogLine]:
        if tail:
            sql = (
                "SELECT * FROM (SELECT * FROM task_logs WHERE task_id=? AND seq>?"
                " ORDER BY seq DESC LIMIT ?) ORDER BY seq"
            )
            params: tuple[Any, ...] = (task_id, after_seq, min(tail, limit))
        else:
            sql = "SELECT * FROM task_logs WHERE task_id=? AND seq>? ORDER BY seq LIMIT ?"
            params = (task_id, after_seq, limit)
        async with self.db.conn.execute(sql, params) as cur:
            return [
                LogLine(row["attempt"], row["line_no"], row["stream"], row["text"], row["time"], row["seq"])
                async for row in cur
            ]

    # Metrics ----------------------------------------------------------------

    async def add_metric(self, conn: aiosqlite.Connection, task_id: str, point: MetricPoint) -> None:
        await conn.execute(
            "INSERT OR REPLACE INTO task_metrics (task_id, attempt, epoch, ord, metric_values, time)"
            " VALUES (?, ?, ?, (SELECT COUNT(*) FROM task_metrics WHERE task_id=?), ?, ?)",
            (task_id, point.attempt, point.epoch, task_id, json.dumps(point.values), point.time),
        )

    async def metrics(self, task_id: str) -> list[MetricPoint]:
        sql = "SELECT * FROM task_metrics WHERE task_id=? ORDER BY attempt, epoch"
        async with self.db.conn.execute(sql, (task_id,)) as cur:
            return [
                MetricPoint(row["attempt"], row["epoch"], json.loads(row["metric_values"]), row["time"])
                async for row in cur
            ]

    # Artifacts --------------------------------------------------------------

    async def put_artifact(self, artifact: Artifact) -> None:
        async with self.db.write() as conn:
            await conn.execute(
                "INSERT OR REPLACE INTO artifacts (task_id, file_name, attempt, size_bytes, sha256)"
                " VALUES (?, ?, ?, ?, ?)",
                (artifact.task_id, artifact.file_name, artifact.attempt, artifact.size_bytes, artifact.sha256),
            )

    async def artifacts(self, task_id: str) -> list[Artifact]:
        sql = "SELECT * FROM artifacts WHERE task_id=? ORDER BY file_name"
        async with self.db.conn.execute(sql, (task_id,)) as cur:
            return [
                Artifact(row["task_id"], row["file_name"], row["attempt"], row["size_bytes"], row["sha256"])
                async for row in cur
            ]

"""Rows of tasks, their logs, metrics, attempts and artifacts. Each function takes the connection to use."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import asdict, replace
from typing import Any

import aiosqlite

from controller.domain.store import TaskPage, TaskQuery
from controller.domain.types import (
    Artifact,
    AttemptRecord,
    LogLine,
    MetricPoint,
    Priority,
    Resources,
    Task,
    TaskRank,
    TaskResult,
    TaskState,
)
from controller.store.spec_json import spec_from_json, spec_to_json

_COLUMNS = (
    "id, request_id, display_name, kind, spec, resources, priority, depends_on, time_limit_seconds, max_retries,"
    " labels, compat_metadata, state, state_reason, stopping, attempt, failures, node_id, gpu_indices, progress,"
    " metrics, exit_code, output_sha256, error, create_time, start_time, end_time, update_time,"
    " concurrency_group, output_model, held, world_size, ranks"
)
#: The same columns with a script's large fields left out of its spec (a list's summary).
_SUMMARY_COLUMNS = _COLUMNS.replace(
    " spec,", " CASE kind WHEN 'script' THEN json_remove(spec, '$.source', '$.requirements', '$.env') ELSE spec END,", 1
)
_TERMINAL = tuple(s.value for s in (TaskState.COMPLETED, TaskState.FAILED, TaskState.CANCELLED))


def _row(t: Task) -> tuple[Any, ...]:
    return (
        t.id, t.request_id or None, t.display_name, t.kind, spec_to_json(t.spec), json.dumps(asdict(t.resources)),
        int(t.priority), json.dumps(list(t.depends_on)), t.time_limit_seconds, t.max_retries, json.dumps(dict(t.labels)),
        json.dumps(dict(t.compat_metadata)), t.state.value, t.state_reason, int(t.stopping), t.attempt, t.failures,
        t.node_id, json.dumps(list(t.gpu_indices)), t.progress, json.dumps(dict(t.metrics)), t.result.exit_code,
        t.result.output_sha256, t.result.error, t.create_time, t.start_time, t.end_time, t.update_time,
        t.concurrency_group, t.output_model, int(t.held), t.world_size, _ranks_json(t.ranks),
    )  # fmt: skip


def _task(row: aiosqlite.Row) -> Task:
    return Task(
        id=row[0], request_id=row[1] or "", display_name=row[2], spec=spec_from_json(row[3], row[4]),
        resources=_resources(json.loads(row[5])), priority=_PRIORITIES[row[6]], depends_on=tuple(_json_list(row[7])),
        time_limit_seconds=row[8], max_retries=row[9], labels=_json_object(row[10]),
        compat_metadata=_json_object(row[11]), state=_STATES[row[12]], state_reason=row[13], stopping=bool(row[14]),
        attempt=row[15], failures=row[16], node_id=row[17], gpu_indices=tuple(_json_list(row[18])), progress=row[19],
        metrics=_json_object(row[20]), result=TaskResult(row[21], row[22], row[23]), create_time=row[24],
        start_time=row[25], end_time=row[26], update_time=row[27], concurrency_group=row[28], output_model=row[29],
        held=bool(row[30]), world_size=row[31], ranks=_ranks(row[32]),
    )  # fmt: skip


def _ranks_json(ranks: Sequence[TaskRank]) -> str:
    if not ranks:
        return "[]"
    return json.dumps([[r.rank, r.node_id, list(r.gpu_indices), r.state.value, r.progress, dict(r.metrics)]
                       for r in ranks])  # fmt: skip


def _ranks(text: str) -> tuple[TaskRank, ...]:
    return tuple(TaskRank(rank, node, tuple(gpus), _STATES[state], progress, metrics)
                 for rank, node, gpus, state, progress, metrics in _json_list(text))  # fmt: skip


# A list's rows are mostly empty JSON containers and a few states: json.loads and Enum() cost
# microseconds each, several times a row (a list of 1,000 sessions read 7,000 of them).
_STATES = {s.value: s for s in TaskState}
_PRIORITIES = {int(p): p for p in Priority}


def _json_object(text: str) -> dict[str, Any]:
    return {} if text == "{}" else json.loads(text)


def _json_list(text: str) -> list[Any]:
    return [] if text == "[]" else json.loads(text)


# Writes ---------------------------------------------------------------------------


async def insert(conn: aiosqlite.Connection, tasks: Sequence[Task]) -> None:
    marks = ", ".join("?" * len(_COLUMNS.split(",")))
    await conn.executemany(f"INSERT INTO tasks ({_COLUMNS}) VALUES ({marks})", [_row(t) for t in tasks])
    await _record_attempts(conn, tasks)


def _last_of_each(tasks: Sequence[Task]) -> list[Task]:
    """The last version of each task (a version is written whole: a batch of reports that takes a task
    from assigned through running to completed costs one row write, not three)."""
    return list({t.id: t for t in tasks}.values()) if len(tasks) > 1 else list(tasks)


async def update_state(conn: aiosqlite.Connection, tasks: Sequence[Task]) -> None:
    """Write what changes as a task runs (never its spec), and the record of each one's current attempt."""
    await _record_attempts(conn, tasks)
    tasks = _last_of_each(tasks)
    await conn.executemany(
        "UPDATE tasks SET state=?, state_reason=?, stopping=?, attempt=?, failures=?, node_id=?, gpu_indices=?,"
        " progress=?, metrics=?, exit_code=?, output_sha256=?, error=?, start_time=?, end_time=?, update_time=?,"
        " ranks=? WHERE id=?",
        [
            (t.state.value, t.state_reason, int(t.stopping), t.attempt, t.failures, t.node_id,
             json.dumps(list(t.gpu_indices)), t.progress, json.dumps(dict(t.metrics)), t.result.exit_code,
             t.result.output_sha256, t.result.error, t.start_time, t.end_time, t.update_time, _ranks_json(t.ranks),
             t.id)
            for t in tasks
        ],
    )  # fmt: skip


async def update_spec(conn: aiosqlite.Connection, tasks: Sequence[Task]) -> None:
    await conn.executemany(
        "UPDATE tasks SET kind=?, spec=?, held=?, time_limit_seconds=? WHERE id=?",
        [(t.kind, spec_to_json(t.spec), int(t.held), t.time_limit_seconds, t.id) for t in tasks],
    )
    await update_state(conn, tasks)


async def _record_attempts(conn: aiosqlite.Connection, tasks: Iterable[Task]) -> None:
    # A requeued attempt (pending again, its node cleared) keeps the record it last had; of several
    # versions of one attempt the last is kept (a replaced row costs a delete and an insert).
    records = {
        (t.id, t.attempt): (t.id, t.attempt, t.node_id, t.state.value, t.start_time,
                            t.end_time if t.state.terminal else 0.0, t.result.exit_code, t.result.output_sha256,
                            t.result.error)
        for t in tasks
        if t.attempt > 0 and t.node_id and (t.state.placed or t.state.terminal)
    }  # fmt: skip
    if records:  # each statement is a trip to the database's thread, an empty one too
        await conn.executemany(
            "INSERT OR REPLACE INTO task_attempts (task_id, attempt, node_id, state, start_time, end_time,"
            " exit_code, output_sha256, error) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            list(records.values()),
        )


async def delete(conn: aiosqlite.Connection, task_ids: Sequence[str]) -> None:
    """Remove tasks with their logs, metrics, artifact rows and attempt records."""
    for table, column in (("task_logs", "task_id"), ("task_metrics", "task_id"), ("artifacts", "task_id"),
                          ("task_attempts", "task_id"), ("tasks", "id")):  # fmt: skip
        await conn.executemany(f"DELETE FROM {table} WHERE {column}=?", [(i,) for i in task_ids])


async def append_logs(conn: aiosqlite.Connection, batches: Sequence[tuple[str, Sequence[LogLine]]]) -> None:
    """Insert lines; a line already stored (a replay) is ignored."""
    await conn.executemany(
        "INSERT OR IGNORE INTO task_logs (task_id, attempt, line_no, stream, text, time) VALUES (?, ?, ?, ?, ?, ?)",
        [(task_id, ln.attempt, ln.line_no, ln.stream, ln.text, ln.time) for task_id, lines in batches for ln in lines],
    )


async def add_metrics(conn: aiosqlite.Connection, points: Sequence[tuple[str, MetricPoint]]) -> None:
    await conn.executemany(
        "INSERT OR REPLACE INTO task_metrics (task_id, attempt, epoch, ord, metric_values, time)"
        " VALUES (?, ?, ?, (SELECT COUNT(*) FROM task_metrics WHERE task_id=?), ?, ?)",
        [(task_id, p.attempt, p.epoch, task_id, json.dumps(p.values), p.time) for task_id, p in points],
    )


async def put_artifacts(conn: aiosqlite.Connection, artifacts: Sequence[Artifact]) -> None:
    await conn.executemany(
        "INSERT OR REPLACE INTO artifacts (task_id, file_name, attempt, size_bytes, sha256) VALUES (?, ?, ?, ?, ?)",
        [(a.task_id, a.file_name, a.attempt, a.size_bytes, a.sha256) for a in artifacts],
    )


# Reads ----------------------------------------------------------------------------


#: A task's artifacts as one JSON column, so a task and its files are read in one statement (one snapshot).
_WITH_ARTIFACTS = (
    f"SELECT {_COLUMNS}, (SELECT json_group_array(json_array(file_name, attempt, size_bytes, sha256))"
    " FROM (SELECT * FROM artifacts WHERE task_id = tasks.id ORDER BY file_name)) FROM tasks"
)


def _with_artifacts(row: aiosqlite.Row) -> Task:
    files = tuple(Artifact(row[0], *entry) for entry in json.loads(row[-1] or "[]"))
    return replace(_task(row), artifacts=files)


async def get(conn: aiosqlite.Connection, task_id: str) -> Task | None:
    rows = await conn.execute_fetchall(f"{_WITH_ARTIFACTS} WHERE id=?", (task_id,))
    return _with_artifacts(rows[0]) if rows else None


async def by_request_id(conn: aiosqlite.Connection, request_id: str) -> Task | None:
    rows = await conn.execute_fetchall(f"{_WITH_ARTIFACTS} WHERE request_id=?", (request_id,))
    return _with_artifacts(rows[0]) if rows else None


async def states(conn: aiosqlite.Connection, task_ids: Sequence[str]) -> dict[str, TaskState]:
    if not task_ids:
        return {}
    sql = f"SELECT id, state FROM tasks WHERE id IN ({', '.join('?' * len(task_ids))})"
    return {row[0]: TaskState(row[1]) for row in await conn.execute_fetchall(sql, tuple(task_ids))}


async def active(conn: aiosqlite.Connection) -> list[Task]:
    sql = f"SELECT {_COLUMNS} FROM tasks WHERE state NOT IN (?, ?, ?) ORDER BY create_time"
    return [_task(row) for row in await conn.execute_fetchall(sql, _TERMINAL)]


async def completed_with_output_model(conn: aiosqlite.Connection) -> list[Task]:
    sql = f"SELECT {_COLUMNS} FROM tasks WHERE state=? AND output_model != '' ORDER BY end_time"
    return [_task(row) for row in await conn.execute_fetchall(sql, (TaskState.COMPLETED.value,))]


async def page(conn: aiosqlite.Connection, query: TaskQuery) -> TaskPage:
    """The page and the total from one statement, so from one snapshot (the total rides on every row)."""
    where, params = [], []
    if query.concurrency_group:
        where.append("concurrency_group = ?")
        params.append(query.concurrency_group)
    if query.node_id:
        where.append("node_id = ?")
        params.append(query.node_id)
    others, other_params = list(where), list(params)
    if query.states:
        where.append(f"state IN ({', '.join('?' * len(query.states))})")
        params += [s.value for s in query.states]
    clause = f"WHERE {' AND '.join(where)}" if where else ""
    page_clause, page_params = clause, params
    if len(query.states) > 1:
        # No index gives several states' union in create_time order, so SQLite would sort every match:
        # take the first offset+limit of each state on its (state, create_time) index, then sort those.
        n = query.offset + query.limit
        inner = " AND ".join(["state = ?", *others])
        branches = " UNION ALL ".join(
            f"SELECT rowid FROM (SELECT rowid FROM tasks WHERE {inner} ORDER BY create_time DESC, id LIMIT ?)"
            for _ in query.states
        )
        page_clause = f"WHERE rowid IN ({branches})"
        page_params = [p for s in query.states for p in (s.value, *other_params, n)]
    columns = _SUMMARY_COLUMNS if query.summary else _COLUMNS
    if query.last_epochs:  # on the primary key (task_id, attempt, epoch): one index probe a row
        columns += (", (SELECT MAX(epoch) FROM task_metrics m WHERE m.task_id = tasks.id"
                    " AND m.attempt = tasks.attempt)")  # fmt: skip
    # The total as an uncorrelated subquery, counted once: from task_counts (O(groups x states)) unless
    # the page is a node's, else on an index. COUNT(*) OVER () made SQLite build and sort every
    # matching row before the LIMIT (4 s a page at 200,000 tasks).
    count_sql, count_params = _count(query, clause, params)
    sql = (f"SELECT {columns}, ({count_sql}) FROM tasks {page_clause}"
           " ORDER BY create_time DESC, id LIMIT ? OFFSET ?")  # fmt: skip
    rows = await conn.execute_fetchall(sql, [*count_params, *page_params, query.limit, query.offset])
    if rows:
        epochs = {row[0]: row[-2] for row in rows if row[-2] is not None} if query.last_epochs else {}
        return TaskPage([_task(row) for row in rows], rows[0][-1], epochs)
    # Past the last page: no row carries the total, so count apart (the page is empty either way).
    total = (await conn.execute_fetchall(count_sql, count_params))[0][0]
    return TaskPage([], total)


def _count(query: TaskQuery, clause: str, params: list[Any]) -> tuple[str, list[Any]]:
    """The statement that counts a query's matches, and its parameters."""
    if query.node_id:  # task_counts has no node: count on the tasks' own index
        return f"SELECT COUNT(*) FROM tasks {clause}", params
    where, count_params = [], []
    if query.concurrency_group:
        where.append("concurrency_group = ?")
        count_params.append(query.concurrency_group)
    if query.states:
        where.append(f"state IN ({', '.join('?' * len(query.states))})")
        count_params += [s.value for s in query.states]
    count_clause = f"WHERE {' AND '.join(where)}" if where else ""
    return f"SELECT COALESCE(SUM(n), 0) FROM task_counts {count_clause}", count_params


async def count_by_state(conn: aiosqlite.Connection) -> dict[TaskState, int]:
    rows = await conn.execute_fetchall("SELECT state, SUM(n) FROM task_counts GROUP BY state HAVING SUM(n) > 0")
    return {TaskState(row[0]): row[1] for row in rows}


async def last_line_no(conn: aiosqlite.Connection, task_id: str, attempt: int) -> int:
    sql = "SELECT COALESCE(MAX(line_no), 0) FROM task_logs WHERE task_id=? AND attempt=?"
    return (await conn.execute_fetchall(sql, (task_id, attempt)))[0][0]


async def logs(conn: aiosqlite.Connection, task_id: str, *, after_seq: int, limit: int, tail: int) -> list[LogLine]:
    if tail:
        sql = ("SELECT * FROM (SELECT seq, attempt, line_no, stream, text, time FROM task_logs"
               " WHERE task_id=? AND seq>? ORDER BY seq DESC LIMIT ?) ORDER BY seq")  # fmt: skip
        params: tuple[Any, ...] = (task_id, after_seq, min(tail, limit))
    else:
        sql = "SELECT seq, attempt, line_no, stream, text, time FROM task_logs WHERE task_id=? AND seq>? ORDER BY seq LIMIT ?"
        params = (task_id, after_seq, limit)
    return [LogLine(row[1], row[2], row[3], row[4], row[5], row[0]) for row in await conn.execute_fetchall(sql, params)]


async def metrics(conn: aiosqlite.Connection, task_id: str) -> list[MetricPoint]:
    sql = "SELECT attempt, epoch, metric_values, time FROM task_metrics WHERE task_id=? ORDER BY attempt, epoch"
    return [MetricPoint(row[0], row[1], json.loads(row[2]), row[3]) for row in await conn.execute_fetchall(sql, (task_id,))]


async def attempts(conn: aiosqlite.Connection, task_id: str) -> list[AttemptRecord]:
    sql = ("SELECT attempt, node_id, state, start_time, end_time, exit_code, output_sha256, error"
           " FROM task_attempts WHERE task_id=? ORDER BY attempt")  # fmt: skip
    rows = await conn.execute_fetchall(sql, (task_id,))
    return [AttemptRecord(r[0], r[1], TaskState(r[2]), r[3], r[4], r[5], r[6], r[7]) for r in rows]


def _resources(raw: dict) -> Resources:
    return Resources(**{**raw, "locks": tuple(raw.get("locks", ()))})

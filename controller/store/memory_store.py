"""The domain's Store in memory: the same contract as the SQLite store, with no I/O.

For the domain's unit tests (each commit copies every table: small data only).
A commit is checked whole before any of it is applied, so it is atomic too.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from controller.domain.client_groups import ClientGroup, Observer
from controller.domain.data_pool import DataChunk
from controller.domain.profiling import Frame, ProfilingSession
from controller.domain.store import Changes, Conflict, StoreUnavailable, TaskPage, TaskQuery
from controller.domain.types import (
    Artifact,
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
from taskspec.script import ScriptSpec


@dataclass
class _Tables:
    tasks: dict[str, Task] = field(default_factory=dict)
    logs: dict[str, list[LogLine]] = field(default_factory=dict)
    metrics: dict[str, dict[tuple[int, int], MetricPoint]] = field(default_factory=dict)
    attempts: dict[str, dict[int, AttemptRecord]] = field(default_factory=dict)
    artifacts: dict[str, dict[str, Artifact]] = field(default_factory=dict)
    nodes: dict[str, Node] = field(default_factory=dict)
    datasets: dict[str, Dataset] = field(default_factory=dict)
    models: dict[str, Model] = field(default_factory=dict)
    credentials: dict[str, NodeCredential] = field(default_factory=dict)
    log_seq: int = 0


class MemoryStore:
    """Implements controller.domain.store.Store. `fail_next_commits` makes the next commits raise (fault injection)."""

    def __init__(self) -> None:
        self._t = _Tables()
        self.fail_next_commits = 0
        self.commits = 0
        self._profiling = MemoryProfilingStore()
        self._chunks = MemoryChunkStore()
        self._client_groups = MemoryClientGroupStore()

    def profiling(self) -> MemoryProfilingStore:
        return self._profiling

    def data_chunks(self) -> MemoryChunkStore:
        return self._chunks

    def client_groups(self) -> MemoryClientGroupStore:
        return self._client_groups

    # Tasks ------------------------------------------------------------------------

    async def get_task(self, task_id: str) -> Task | None:
        task = self._t.tasks.get(task_id)
        if task is None:
            return None
        files = self._t.artifacts.get(task_id, {})
        return replace(task, artifacts=tuple(files[name] for name in sorted(files)))

    async def task_by_request_id(self, request_id: str) -> Task | None:
        found = next((t for t in self._t.tasks.values() if t.request_id == request_id), None)
        return await self.get_task(found.id) if found else None

    async def task_states(self, task_ids: Sequence[str]) -> dict[str, TaskState]:
        return {i: self._t.tasks[i].state for i in task_ids if i in self._t.tasks}

    async def active_tasks(self) -> list[Task]:
        return sorted((t for t in self._t.tasks.values() if not t.state.terminal), key=lambda t: t.create_time)

    async def list_tasks(self, query: TaskQuery) -> TaskPage:
        matching = [
            t
            for t in self._t.tasks.values()
            if (not query.states or t.state in query.states)
            and (not query.node_id or t.node_id == query.node_id)
            and (not query.concurrency_group or t.concurrency_group == query.concurrency_group)
        ]
        matching.sort(key=lambda t: t.id)
        matching.sort(key=lambda t: t.create_time, reverse=True)
        page = matching[query.offset : query.offset + query.limit]
        epochs: dict[str, int] = {}
        if query.last_epochs:
            for t in page:
                mine = [e for (attempt, e) in self._t.metrics.get(t.id, {}) if attempt == t.attempt]
                if mine:
                    epochs[t.id] = max(mine)
        if query.summary:
            page = [_summary(t) for t in page]
        return TaskPage(page, len(matching), epochs)

    async def count_tasks_by_state(self) -> dict[TaskState, int]:
        counts: dict[TaskState, int] = {}
        for task in self._t.tasks.values():
            counts[task.state] = counts.get(task.state, 0) + 1
        return counts

    async def completed_with_output_model(self) -> list[Task]:
        done = [t for t in self._t.tasks.values() if t.state is TaskState.COMPLETED and t.output_model]
        return sorted(done, key=lambda t: t.end_time)

    async def logs(self, task_id: str, *, after_seq: int = 0, limit: int = 1000, tail: int = 0) -> list[LogLine]:
        lines = [ln for ln in self._t.logs.get(task_id, []) if ln.seq > after_seq]
        return lines[-min(tail, limit) :] if tail else lines[:limit]

    async def last_line_no(self, task_id: str, attempt: int) -> int:
        return max((ln.line_no for ln in self._t.logs.get(task_id, []) if ln.attempt == attempt), default=0)

    async def metrics(self, task_id: str) -> list[MetricPoint]:
        points = self._t.metrics.get(task_id, {})
        return [points[key] for key in sorted(points)]

    async def attempts(self, task_id: str) -> list[AttemptRecord]:
        records = self._t.attempts.get(task_id, {})
        return [records[a] for a in sorted(records)]

    # Nodes, datasets, models --------------------------------------------------------

    async def all_nodes(self) -> list[Node]:
        return [copy.deepcopy(self._t.nodes[i]) for i in sorted(self._t.nodes)]

    async def get_dataset(self, dataset_id: str) -> Dataset | None:
        return self._t.datasets.get(dataset_id)

    async def list_datasets(self, *, offset: int, limit: int) -> list[Dataset]:
        return [self._t.datasets[i] for i in sorted(self._t.datasets)][offset : offset + limit]

    async def get_model(self, name: str) -> Model | None:
        return self._t.models.get(name)

    async def list_models(self) -> list[Model]:
        return sorted(self._t.models.values(), key=lambda m: (m.create_time, m.name))

    async def all_credentials(self) -> list[NodeCredential]:
        return [self._t.credentials[i] for i in sorted(self._t.credentials)]

    # Writing --------------------------------------------------------------------------

    async def commit(self, changes: Changes) -> None:
        await self.commit_all([changes])

    async def commit_all(self, batch: Sequence[Changes]) -> None:
        if self.fail_next_commits > 0:
            self.fail_next_commits -= 1
            raise StoreUnavailable("injected failure")
        kept = self._t
        self._t = copy.deepcopy(kept)
        try:
            for changes in batch:
                self._check(changes)
                self._apply(changes)
        except BaseException:
            self._t = kept
            raise
        self.commits += 1

    def _apply(self, changes: Changes) -> None:
        t = self._t
        for task_id in changes.deleted:
            for table in (t.tasks, t.logs, t.metrics, t.attempts, t.artifacts):
                table.pop(task_id, None)
        for task in changes.created:
            t.tasks[task.id] = replace(task, artifacts=())
        for task in changes.updated:
            if (kept := t.tasks.get(task.id)) is not None:
                # A state update never writes the spec (a list's summary must not wipe a script).
                t.tasks[task.id] = replace(task, spec=kept.spec, held=kept.held,
                                           time_limit_seconds=kept.time_limit_seconds, artifacts=())  # fmt: skip
        for task in changes.respecified:
            if task.id in t.tasks:
                t.tasks[task.id] = replace(task, artifacts=())
        for task in changes.tasks():
            if task.id in t.tasks and task.attempt > 0 and task.node_id and (task.state.placed or task.state.terminal):
                t.attempts.setdefault(task.id, {})[task.attempt] = AttemptRecord(
                    task.attempt, task.node_id, task.state, task.start_time, task.end_time if task.state.terminal else 0.0,
                    task.result.exit_code, task.result.output_sha256, task.result.error,
                )  # fmt: skip
        for task_id, point in changes.metrics:
            t.metrics.setdefault(task_id, {})[(point.attempt, point.epoch)] = point
        for task_id, lines in changes.logs:
            stored = t.logs.setdefault(task_id, [])
            seen = {(ln.attempt, ln.line_no) for ln in stored}
            for line in lines:
                if (line.attempt, line.line_no) not in seen:
                    t.log_seq += 1
                    stored.append(replace(line, seq=t.log_seq))
                    seen.add((line.attempt, line.line_no))
        for artifact in changes.artifacts:
            t.artifacts.setdefault(artifact.task_id, {})[artifact.file_name] = artifact
        for node in changes.nodes:
            known = t.nodes.get(node.id)
            t.nodes[node.id] = replace(copy.deepcopy(node), create_time=known.create_time if known else node.create_time)
        for change in changes.node_states:
            if change.node_id in t.nodes:
                t.nodes[change.node_id] = replace(t.nodes[change.node_id], state=change.state, last_seen=change.last_seen)
        for dataset_id in changes.deleted_datasets:
            t.datasets.pop(dataset_id, None)
        t.datasets.update({d.id: d for d in changes.new_datasets})
        for name in changes.deleted_models:
            t.models.pop(name, None)
        t.models.update({m.name: m for m in changes.new_models})
        t.credentials.update({c.node_id: c for c in changes.credentials})

    def _check(self, changes: Changes) -> None:
        """Conflict when a change takes a key that is taken, by a row or by another part of the same change."""
        gone = set(changes.deleted)
        ids = [t.id for t in self._t.tasks.values() if t.id not in gone] + [t.id for t in changes.created]
        requests = [t.request_id for t in self._t.tasks.values() if t.id not in gone and t.request_id]
        requests += [t.request_id for t in changes.created if t.request_id]
        datasets = [d for d in self._t.datasets if d not in changes.deleted_datasets] + [d.id for d in changes.new_datasets]
        models = [m for m in self._t.models if m not in changes.deleted_models] + [m.name for m in changes.new_models]
        nodes = list(self._t.credentials) + [c.node_id for c in changes.credentials if not c.revoke_time]
        for what, keys in (("task id", ids), ("request id", requests), ("dataset", datasets), ("model", models),
                           ("node credential", nodes)):  # fmt: skip
            if len(set(keys)) != len(keys):
                taken = next(k for k in keys if keys.count(k) > 1)
                raise Conflict(f"{what} {taken!r} is taken")

    async def ping(self) -> bool:
        return True

    async def close(self) -> None:
        pass


def _summary(task: Task) -> Task:
    if isinstance(task.spec, ScriptSpec):
        return replace(task, spec=replace(task.spec, source="", requirements="", env={}))
    return task


class MemoryProfilingStore:
    """controller.domain.profiling.ProfilingStore in memory."""

    def __init__(self) -> None:
        self._sessions: dict[str, ProfilingSession] = {}
        self._frames: list[Frame] = []

    async def add_session(self, session: ProfilingSession) -> bool:
        if session.id in self._sessions:
            return False
        self._sessions[session.id] = session
        return True

    async def end_session(self, session_id: str, end_time: float) -> None:
        self._sessions[session_id] = replace(self._sessions[session_id], end_time=end_time)

    async def sessions(self) -> list[ProfilingSession]:
        return sorted(self._sessions.values(), key=lambda s: (-s.start_time, s.id))

    async def add_frames(self, frames: Sequence[Frame]) -> None:
        known = {(f.node_id, f.time) for f in self._frames}
        self._frames.extend(f for f in frames if (f.node_id, f.time) not in known)

    def _of(self, session: ProfilingSession) -> list[tuple[int, Frame]]:
        return sorted(((i, f) for i, f in enumerate(self._frames, 1)
                       if f.time >= session.start_time and (not session.end_time or f.time <= session.end_time)
                       and (not session.nodes or f.node_id in session.nodes)), key=lambda p: (p[1].time, p[0]))  # fmt: skip

    async def frames(self, session: ProfilingSession, *, after: tuple[float, int] = (0.0, 0),
                     limit: int = 1000) -> list[tuple[int, Frame]]:  # fmt: skip
        return [(i, f) for i, f in self._of(session) if (f.time, i) > after][:limit]

    async def count_frames(self, session: ProfilingSession) -> int:
        return len(self._of(session))

    async def delete_frames_before(self, moment: float) -> int:
        kept = [f for f in self._frames if f.time >= moment]
        deleted, self._frames = len(self._frames) - len(kept), kept
        return deleted


class MemoryChunkStore:
    """controller.domain.data_pool.ChunkStore in memory."""

    def __init__(self) -> None:
        self._chunks: dict[str, DataChunk] = {}

    async def put(self, chunk: DataChunk) -> None:
        self._chunks[chunk.id] = chunk

    async def delete(self, chunk_id: str) -> None:
        self._chunks.pop(chunk_id, None)

    async def all(self) -> list[DataChunk]:
        return sorted(self._chunks.values(), key=lambda c: (c.created_at, c.id))


class MemoryClientGroupStore:
    """controller.domain.client_groups.ClientGroupStore in memory."""

    def __init__(self) -> None:
        self._groups: dict[int, ClientGroup] = {}
        self._observers: dict[str, Observer] = {}

    async def put_group(self, group: ClientGroup) -> None:
        self._groups[group.benchmark_id] = group

    async def delete_group(self, benchmark_id: int) -> None:
        self._groups.pop(benchmark_id, None)

    async def groups(self) -> list[ClientGroup]:
        return sorted(self._groups.values(), key=lambda g: (g.created_at, g.benchmark_id))

    async def put_observer(self, observer: Observer) -> None:
        self._observers[observer.key] = observer

    async def observers(self) -> list[Observer]:
        return list(self._observers.values())

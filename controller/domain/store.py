"""What the domain needs from storage: reads, and one atomic commit of a batch of changes.

The domain is written against this interface, not against SQL: the SQLite store
(`controller.store.sqlite_store`) is what the controller runs on, the memory store
(`controller.store.memory_store`) runs the domain's unit tests without I/O. Both
pass the same contract tests (tests/controller/store).

Error contract, for every implementation:
- A read of something unknown returns None (or an empty result); it never raises NotFound.
- Reads see only committed data, and each read is one consistent snapshot.
- `commit` (and `commit_all`, several in order) applies all of its changes or none. It raises `Conflict` when a unique
  key is taken (a task id or request id, a dataset id, a model name) and
  `StoreUnavailable` for any other failure; in both cases nothing was applied.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from controller.domain.client_groups import ClientGroupStore
    from controller.domain.data_pool import ChunkStore
    from controller.domain.profiling import ProfilingStore
from controller.domain.types import (
    Artifact,
    AttemptRecord,
    Dataset,
    LogLine,
    MetricPoint,
    Model,
    Node,
    NodeCredential,
    NodeState,
    Task,
    TaskPage,
    TaskQuery,
    TaskState,
)


class StoreError(Exception):
    """Base of the store's errors."""


class Conflict(StoreError):
    """A unique key is taken; nothing was written."""


class StoreUnavailable(StoreError):
    """The store failed (disk full, I/O error, closed); nothing was written."""


@dataclass(frozen=True)
class NodeStateChange:
    node_id: str
    state: NodeState
    last_seen: float


@dataclass
class Changes:
    """One atomic commit. Tasks are written whole (their state columns; the spec only when created or respecified)."""

    created: list[Task] = field(default_factory=list)
    updated: list[Task] = field(default_factory=list)
    #: Tasks whose spec, hold or time limit changed (their state is written too).
    respecified: list[Task] = field(default_factory=list)
    #: Task ids removed with their logs, metrics, artifact rows and attempt records.
    deleted: list[str] = field(default_factory=list)
    metrics: list[tuple[str, MetricPoint]] = field(default_factory=list)
    logs: list[tuple[str, Sequence[LogLine]]] = field(default_factory=list)
    artifacts: list[Artifact] = field(default_factory=list)
    nodes: list[Node] = field(default_factory=list)
    node_states: list[NodeStateChange] = field(default_factory=list)
    new_datasets: list[Dataset] = field(default_factory=list)
    deleted_datasets: list[str] = field(default_factory=list)
    new_models: list[Model] = field(default_factory=list)
    deleted_models: list[str] = field(default_factory=list)
    #: Nodes' credentials, written whole (a new one, or one revoked).
    credentials: list[NodeCredential] = field(default_factory=list)

    def tasks(self) -> list[Task]:
        """Every task written, in order."""
        return [*self.created, *self.updated, *self.respecified]

    def __bool__(self) -> bool:
        return any(getattr(self, name) for name in self.__dataclass_fields__)


class Store(Protocol):
    def profiling(self) -> ProfilingStore:
        """Where profiling sessions and frames are kept (controller.domain.profiling)."""

    def data_chunks(self) -> ChunkStore:
        """Where the data pool's chunks are kept (controller.domain.data_pool)."""

    def client_groups(self) -> ClientGroupStore:
        """Where AI Factory's client groups and observers are kept (controller.domain.client_groups)."""

    # Tasks --------------------------------------------------------------------

    async def get_task(self, task_id: str) -> Task | None:
        """The task with its artifacts, or None."""

    async def task_by_request_id(self, request_id: str) -> Task | None:
        """The task created with this request id, or None."""

    async def task_states(self, task_ids: Sequence[str]) -> dict[str, TaskState]:
        """States of the tasks that exist among `task_ids`."""

    async def active_tasks(self) -> list[Task]:
        """Every task that is not terminal, oldest first."""

    async def list_tasks(self, query: TaskQuery) -> TaskPage:
        """A page of tasks and the total, from one snapshot."""

    async def count_tasks_by_state(self) -> dict[TaskState, int]:
        """How many tasks are in each state (states with none are left out)."""

    async def completed_with_output_model(self) -> list[Task]:
        """Completed tasks that name an output model, oldest first."""

    async def logs(self, task_id: str, *, after_seq: int = 0, limit: int = 1000, tail: int = 0) -> list[LogLine]:
        """Lines with seq > after_seq, oldest first; with `tail`, only the last `tail` of them."""

    async def last_line_no(self, task_id: str, attempt: int) -> int:
        """The highest line number stored for an attempt (0 when none)."""

    async def metrics(self, task_id: str) -> list[MetricPoint]:
        """The task's metric points by attempt and epoch."""

    async def attempts(self, task_id: str) -> list[AttemptRecord]:
        """Every attempt of the task that was placed, oldest first."""

    # Nodes, datasets, models ----------------------------------------------------

    async def all_nodes(self) -> list[Node]:
        """Every node ever registered, by id."""

    async def get_dataset(self, dataset_id: str) -> Dataset | None: ...

    async def list_datasets(self, *, offset: int, limit: int) -> list[Dataset]:
        """Datasets by id."""

    async def get_model(self, name: str) -> Model | None: ...

    async def all_credentials(self) -> list[NodeCredential]:
        """Every node credential, revoked ones too."""

    async def list_models(self) -> list[Model]:
        """Models, oldest first."""

    # Writing ----------------------------------------------------------------------

    async def commit(self, changes: Changes) -> None:
        """Apply every change atomically (see the module's error contract)."""

    async def commit_all(self, batch: Sequence[Changes]) -> None:
        """Apply each Changes in order, all of them in one atomic transaction."""

    async def ping(self) -> bool:
        """True when the store answers."""

"""Plain types of the controller's domain. They know nothing of gRPC or SQL.

Tasks are frozen: a change is a new value (`dataclasses.replace`), committed to
the store before it replaces the old one in memory, so nobody ever sees a state
that was not saved.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from taskspec.command import CommandSpec
from taskspec.model_operation import ModelOperationSpec
from taskspec.script import ScriptSpec
from taskspec.serving import ServingSpec
from taskspec.training import TrainingSpec

#: What a task runs: the specs the agents agree on (taskspec), never a wire format.
TaskSpec = ScriptSpec | TrainingSpec | CommandSpec | ModelOperationSpec | ServingSpec
#: Seconds since the epoch; injected so tests move time instead of sleeping.
Clock = Callable[[], float]


def spec_kind(spec: TaskSpec) -> str:
    """"script", "training", "command", "model_operation" or "serving"."""
    if isinstance(spec, ScriptSpec):
        return "script"
    if isinstance(spec, ModelOperationSpec):
        return "model_operation"
    if isinstance(spec, ServingSpec):
        return "serving"
    return "command" if isinstance(spec, CommandSpec) else "training"


class TaskState(enum.Enum):
    PENDING = "pending"
    ASSIGNED = "assigned"
    RUNNING = "running"
    PAUSED = "paused"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def terminal(self) -> bool:
        return self in TERMINAL_STATES

    @property
    def placed(self) -> bool:
        """Holding resources on a node."""
        return self in PLACED_STATES


TERMINAL_STATES = frozenset({TaskState.COMPLETED, TaskState.FAILED, TaskState.CANCELLED})
PLACED_STATES = frozenset({TaskState.ASSIGNED, TaskState.RUNNING, TaskState.PAUSED})


class Priority(enum.IntEnum):
    LOW = 1
    NORMAL = 2
    HIGH = 3
    CRITICAL = 4


class NodeState(enum.Enum):
    ONLINE = "online"
    RECONNECTING = "reconnecting"
    OFFLINE = "offline"


class TaskAction(enum.Enum):
    PAUSE = "pause"
    RESUME = "resume"
    STOP = "stop"
    CANCEL = "cancel"


@dataclass(frozen=True)
class Resources:
    gpus: int = 0
    gpu_memory_mb: int = 0
    cpu_cores: float = 0.0
    memory_mb: int = 0
    #: Only this node may run it ("": any that fits).
    node: str = ""
    #: Held exclusively while placed: two tasks sharing a lock never run at once.
    locks: tuple[str, ...] = ()


@dataclass(frozen=True)
class Gpu:
    index: int
    uuid: str
    name: str
    memory_mb: int
    compute_capability: str = ""


@dataclass(frozen=True)
class Capabilities:
    cpu_cores: int = 0
    memory_mb: int = 0
    gpus: tuple[Gpu, ...] = ()
    os: str = ""
    platform: str = ""
    python_version: str = ""
    torch_version: str = ""
    #: Size of the disk of the node's data directory, bytes (0: not reported).
    disk_bytes: int = 0


@dataclass(frozen=True)
class GpuUsage:
    index: int
    utilization_percent: float = 0.0
    memory_used_mb: int = 0
    temperature_c: float = 0.0
    power_w: float = 0.0


@dataclass(frozen=True)
class NodeUsage:
    cpu_percent: float = 0.0
    memory_percent: float = 0.0
    memory_used_mb: int = 0
    load_average: float = 0.0
    gpus: tuple[GpuUsage, ...] = ()


@dataclass
class Node:
    id: str
    hostname: str = ""
    state: NodeState = NodeState.ONLINE
    capabilities: Capabilities = field(default_factory=Capabilities)
    usage: NodeUsage = field(default_factory=NodeUsage)
    labels: dict[str, str] = field(default_factory=dict)
    agent_version: str = ""
    create_time: float = field(default_factory=time.time)
    last_seen: float = field(default_factory=time.time)


@dataclass(frozen=True)
class TaskResult:
    exit_code: int = 0
    output_sha256: str = ""
    error: str = ""


@dataclass(frozen=True)
class Artifact:
    task_id: str
    file_name: str
    attempt: int
    size_bytes: int
    sha256: str


@dataclass(frozen=True)
class TaskRank:
    """One rank of a gang's current attempt: where it runs and what it last reported."""

    rank: int
    node_id: str
    gpu_indices: tuple[int, ...] = ()
    state: TaskState = TaskState.ASSIGNED
    progress: float = 0.0
    metrics: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Task:
    id: str
    spec: TaskSpec
    display_name: str = ""
    resources: Resources = field(default_factory=Resources)
    priority: Priority = Priority.NORMAL
    depends_on: tuple[str, ...] = ()
    time_limit_seconds: int = 0
    max_retries: int = 0
    #: The user's labels.
    labels: Mapping[str, str] = field(default_factory=dict)
    #: Fields a compat surface keeps with the task (ShelbyCompute's dataset and meta); never shown as labels.
    compat_metadata: Mapping[str, str] = field(default_factory=dict)
    request_id: str = ""
    #: Tasks of a group share the controller's concurrency limit for it; "" is no group.
    concurrency_group: str = ""
    #: When set, a completed task's checkpoint is saved in the model registry under this name.
    output_model: str = ""
    #: Not scheduled until released (a job whose script is still to be uploaded).
    held: bool = False
    #: Ranks of a distributed task (a gang) placed together on this many distinct nodes; 1 is one node.
    world_size: int = 1
    state: TaskState = TaskState.PENDING
    state_reason: str = ""
    #: A user asked the placed attempt to stop; if its node is lost it ends rather than runs again.
    stopping: bool = False
    attempt: int = 0
    #: Failed attempts so far; retries stop at max_retries.
    failures: int = 0
    node_id: str = ""
    #: GPUs of the node held by the current attempt.
    gpu_indices: tuple[int, ...] = ()
    #: A placed gang's ranks, in rank order (rank 0 is `node_id`, `gpu_indices`); () otherwise.
    ranks: tuple[TaskRank, ...] = ()
    progress: float = 0.0
    metrics: Mapping[str, float] = field(default_factory=dict)
    result: TaskResult = field(default_factory=TaskResult)
    #: Read from the store with the task (empty in lists).
    artifacts: tuple[Artifact, ...] = ()
    create_time: float = 0.0
    start_time: float = 0.0
    end_time: float = 0.0
    update_time: float = 0.0

    @property
    def kind(self) -> str:
        return spec_kind(self.spec)

    @property
    def node_ids(self) -> tuple[str, ...]:
        """The nodes the current attempt runs on: every rank's of a gang, else its one node (or none)."""
        return tuple(node_id for node_id, _ in self.placements())

    def placements(self) -> tuple[tuple[str, tuple[int, ...]], ...]:
        """(node, its GPUs) for each node the current attempt holds resources on."""
        if self.ranks:
            return tuple((r.node_id, r.gpu_indices) for r in self.ranks)
        return ((self.node_id, self.gpu_indices),) if self.node_id else ()

    def runs_on(self, node_id: str) -> bool:
        return node_id == self.node_id or any(r.node_id == node_id for r in self.ranks)

    def rank_on(self, node_id: str) -> TaskRank | None:
        """The gang rank on `node_id` (one node holds at most one rank of a gang)."""
        return next((r for r in self.ranks if r.node_id == node_id), None)

    def changed(self, **fields: object) -> Task:
        """This task with `fields` changed, as `dataclasses.replace` makes it but without re-running
        `__init__` (Task has no `__post_init__`): 1 µs rather than 15 with this many fields, and a task
        changes half a dozen times between its create and its end."""
        if unknown := fields.keys() - _TASK_FIELDS:
            raise TypeError(f"Task has no field {', '.join(sorted(unknown))}")
        new = object.__new__(Task)
        new.__dict__.update(self.__dict__, **fields)
        return new


_TASK_FIELDS = frozenset(Task.__dataclass_fields__)


@dataclass(frozen=True)
class AttemptRecord:
    """One placement of a task as it last stood: where, when, and how it ended (provenance)."""

    attempt: int
    node_id: str
    state: TaskState
    start_time: float
    end_time: float
    exit_code: int
    output_sha256: str
    error: str


@dataclass(frozen=True)
class LogLine:
    """A line a task printed; `seq` is assigned by the store, increasing per task."""

    attempt: int
    line_no: int
    stream: str
    text: str
    time: float
    seq: int = 0


@dataclass(frozen=True)
class MetricPoint:
    attempt: int
    epoch: int
    values: dict[str, float]
    time: float


@dataclass(frozen=True)
class Dataset:
    id: str
    format: str
    size_bytes: int
    sha256: str
    description: str = ""
    create_time: float = field(default_factory=time.time)
    #: Number of samples; 0 when the file could not be read as a dataset.
    sample_count: int = 0
    #: Shape of one sample, "3x16x16" or "16"; "" when unknown.
    dimensions: str = ""


@dataclass(frozen=True)
class TaskAttemptReport:
    """A task attempt an agent says it knows, from its hello."""

    task_id: str
    attempt: int
    state: TaskState


@dataclass
class TaskUpdate:
    """An agent's report on one attempt."""

    task_id: str
    attempt: int
    state: TaskState | None = None
    progress: float | None = None
    metric: MetricPoint | None = None
    result: TaskResult | None = None
    reason: str = ""
    time: float = field(default_factory=time.time)


class CredentialKind(enum.Enum):
    #: A random secret the node presents as a bearer token (when the controller serves no TLS).
    SECRET = "secret"
    #: A client certificate signed by the farm's CA (mutual TLS).
    CERTIFICATE = "certificate"
    #: A ShelbyCompute polling agent's own handshake key (its calls carry HMACs made with it).
    HANDSHAKE = "handshake"


@dataclass(frozen=True)
class NodeCredential:
    """What a node proves it is with. One per node id; a revoked one stays, so the id never joins again."""

    node_id: str
    kind: CredentialKind
    #: sha256 (hex) of the secret, of the certificate's DER, or of the handshake key.
    digest: str
    #: The handshake key itself (an HMAC cannot be checked without it); "" for the other kinds.
    key: str = ""
    create_time: float = 0.0
    #: When it was revoked; 0 while it is valid.
    revoke_time: float = 0.0


#: A location's status once its bytes are all there.
LOCATION_READY = "ready"


@dataclass(frozen=True)
class ModelLocation:
    """Where a model's bytes are outside the registry: "node:device" (disk, dram, gpuN)."""

    device: str
    status: str = LOCATION_READY


@dataclass(frozen=True)
class Model:
    """A model of the registry: trained weights (a file here), or one registered by name whose
    bytes are elsewhere (gswarm's registry: `sha256` is "" until the registry holds them)."""

    name: str
    size_bytes: int
    sha256: str
    #: The task whose checkpoint it is; "" for an upload.
    source_task_id: str = ""
    create_time: float = field(default_factory=time.time)
    #: What kind of model ("llm", ...), where it can be fetched from, and what it was registered with.
    model_type: str = ""
    source_url: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)
    locations: tuple[ModelLocation, ...] = ()

    @property
    def has_content(self) -> bool:
        """The registry holds its bytes (a file under the models directory)."""
        return bool(self.sha256)

    @property
    def ready(self) -> bool:
        """Its bytes are somewhere: in the registry, or at a location a node reported ready."""
        return self.has_content or any(loc.status == LOCATION_READY for loc in self.locations)


@dataclass(frozen=True)
class TaskQuery:
    """Which tasks a list shows: filters, a page, and whether scripts' bodies are left out."""

    states: tuple[TaskState, ...] = ()
    node_id: str = ""
    concurrency_group: str = ""
    offset: int = 0
    limit: int = 50
    #: Leave out what can be large (a script's source, requirements and environment).
    summary: bool = True
    #: Read each task's last epoch with a metric point of its current attempt (TaskPage.last_epochs).
    last_epochs: bool = False


@dataclass(frozen=True)
class TaskPage:
    """A page of tasks, newest first, and how many match over all pages (from the same snapshot)."""

    tasks: list[Task]
    total: int
    #: With TaskQuery.last_epochs: task id -> the last epoch of its current attempt with a metric
    #: point, read with the page (tasks with none are left out); a list costs one statement, not one a task.
    last_epochs: Mapping[str, int] = field(default_factory=dict)

"""The contract between the agent's task supervisor and the runners.

A runner executes one task attempt. It reports through a `TaskReporter` whose
methods never block (they enqueue onto the agent's outbox), and it ends with an
`Outcome`. Pause, resume, stop and cancel may be called at any time from the
agent's event loop; each is safe to call twice and after the run has ended.
"""

from __future__ import annotations

import abc
import enum
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Awaitable, Callable, Protocol

from agent.training.spec import Rendezvous

if TYPE_CHECKING:
    from agent.models.local_store import LocalModelStore
    from agent.runners.child_registry import ChildRegistry
    from agent.serving.services import ServiceBook
    from aifarm.v1.agent_service_pb2 import PeerSource


class LogSource(enum.Enum):
    STDOUT = "stdout"
    STDERR = "stderr"
    SYSTEM = "system"


class FinalState(enum.Enum):
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


class TaskReporter(Protocol):
    """Where a runner sends what happens. Non-blocking; ordered per task."""

    def log(self, source: LogSource, text: str) -> None:
        """One line, without its newline."""

    def progress(self, fraction: float) -> None:
        """Fraction done, 0..1."""

    def metric(self, epoch: int, values: dict[str, float]) -> None:
        """Metrics of one epoch (or other point), e.g. loss and accuracy."""

    def paused(self, is_paused: bool) -> None:
        """The work has actually paused (True) or resumed (False)."""


@dataclass
class Outcome:
    """How an attempt ended."""

    state: FinalState
    exit_code: int = 0
    #: sha256 over the files the task wrote, in path order ("" when none).
    output_sha256: str = ""
    error: str = ""
    #: Files to upload to the controller as artifacts (checkpoints, say).
    artifacts: list[Path] = field(default_factory=list)


#: Resolves a dataset resource name ("datasets/x") to a local file, fetching it if needed.
DatasetFetcher = Callable[[str], Awaitable[Path]]
#: "models/NAME" -> the local path of that model's file.
ModelFetcher = Callable[[str], Awaitable[Path]]


class Environments(Protocol):
    """Where scripts with requirements get a Python environment (agent.runners.environments)."""

    async def ensure(self, requirements: str, say: Callable[[str], None]) -> Path:
        """The directory of an environment with `requirements` installed; raises
        agent.errors.RequirementsError. `say` gets progress lines."""
        ...


@dataclass(frozen=True)
class RunContext:
    """What every runner gets besides its spec."""

    task_id: str
    attempt: int
    #: Empty directory owned by this attempt; the runner works only inside it.
    workdir: Path
    #: Seconds the attempt may run; 0 means no limit.
    time_limit_seconds: int
    fetch_dataset: DatasetFetcher
    #: The node's GPUs the controller allotted to this attempt (none: it must not use any).
    gpu_indices: tuple[int, ...] = ()
    #: Where scripts with requirements get their Python environments (None: such scripts fail).
    environments: Environments | None = None
    #: Where the attempt's processes are recorded while they run (None: not recorded).
    children: ChildRegistry | None = None
    #: Fetches a model of the registry ("models/NAME") a training continues (None: such trainings fail).
    fetch_model: ModelFetcher | None = None
    #: This attempt is a rank of a gang, meeting the others there (None: it runs alone).
    rendezvous: Rendezvous | None = None
    #: This node's id, and its model store (None: model operations fail).
    node_id: str = ""
    model_store: LocalModelStore | None = None
    #: A model copy: where the source node serves the bytes, and the ticket to read them.
    peer_source: PeerSource | None = None
    #: The services running on this node (None: serving tasks fail).
    services: ServiceBook | None = None
    #: This node's data pool store (None: data pool operations fail).
    data_store: LocalModelStore | None = None


def task_env(ctx: RunContext, extra: dict[str, str]) -> dict[str, str]:
    """The agent's environment, the spec's variables, the attempt's identity and its GPUs."""
    env = dict(os.environ)
    env.update(extra)
    env["AIFARM_TASK_ID"] = ctx.task_id
    env["AIFARM_ATTEMPT"] = str(ctx.attempt)
    # Set last so a spec cannot reach GPUs another task was given.
    env["CUDA_VISIBLE_DEVICES"] = ",".join(str(i) for i in ctx.gpu_indices)
    return env


class Runner(abc.ABC):
    """Runs one task attempt."""

    @abc.abstractmethod
    async def run(self) -> Outcome:
        """Run to the end and say how it ended. Never raises for task failures."""

    @abc.abstractmethod
    async def pause(self) -> None:
        """Suspend the work; it keeps its resources."""

    @abc.abstractmethod
    async def resume(self) -> None:
        """Continue paused work."""

    @abc.abstractmethod
    async def stop(self) -> None:
        """End gracefully: training finishes its step and saves a checkpoint."""

    @abc.abstractmethod
    async def cancel(self) -> None:
        """End now."""

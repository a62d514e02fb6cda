"""Builders for the store's tests: tasks, nodes, datasets and models as the domain would commit them."""

from __future__ import annotations

from dataclasses import replace

from controller.domain.types import (
    Capabilities,
    Dataset,
    Gpu,
    LogLine,
    Model,
    Node,
    NodeState,
    Priority,
    Resources,
    Task,
    TaskResult,
    TaskState,
)
from taskspec.command import CommandSpec
from taskspec.model_operation import ModelOperationSpec, Operation, Pool
from taskspec.script import ScriptSpec
from taskspec.training import SyntheticData, TrainingConfig, TrainingSpec

#: A script with every field set, the large ones included.
FULL_SCRIPT = ScriptSpec(
    source="import os\nprint(os.environ['A'])\n", entrypoint="run.py", interpreter="python",
    args=("--fast", "-n", "3"), env={"A": "1", "B": "two"}, requirements="numpy==2.0\n",
)  # fmt: skip
TRAINING = TrainingSpec(
    TrainingConfig(architecture="cnn", epochs=3, batch_size=16, learning_rate=0.01, optimizer="sgd",
                   loss_function="mse", validation_split=0.25, seed=7, device="cpu"),
    synthetic=SyntheticData(samples=100, features=8, classes=3, image_size=16, channels=1),
)  # fmt: skip
TRAINING_ON_DATASET = TrainingSpec(TrainingConfig(architecture="mlp", epochs=1), dataset="iris.csv")
#: A command with every field set.
COMMAND = CommandSpec(argv=("printf", "%s\n", "a b"), env={"A": "1"}, working_directory="out")
#: A data pool's copy (its pool must read back: a models' one would name another store of the node).
DATA_COPY = ModelOperationSpec(Operation.COPY, "chunk-a1b2c3d4e5f6", source_device="n1:dram", target_device="disk",
                               verify_checksum=True, sha256="ab" * 32, pool=Pool.DATA)  # fmt: skip


def task(task_id: str, created: float = 1000.0, *, spec: ScriptSpec | TrainingSpec = FULL_SCRIPT,
         **fields: object) -> Task:  # fmt: skip
    """A task as created: pending, its times set."""
    return Task(id=task_id, spec=spec, create_time=created, update_time=created, **fields)  # type: ignore[arg-type]


def every_field(task_id: str = "full") -> Task:
    """A task with every stored field away from its default."""
    return task(
        task_id, 1234.5, display_name="Full task", resources=Resources(gpus=2, gpu_memory_mb=8000, cpu_cores=1.5,
        memory_mb=2048), priority=Priority.HIGH, depends_on=("a", "b"), time_limit_seconds=60, max_retries=3,
        labels={"team": "vision"}, compat_metadata={"dataset_name": "cats"}, request_id="req-full",
        concurrency_group="sessions", output_model="net_v1", held=True, state=TaskState.RUNNING,
        state_reason="running on node n1", stopping=True, attempt=2, failures=1, node_id="n1", gpu_indices=(0, 1),
        progress=0.5, metrics={"loss": 0.25}, result=TaskResult(exit_code=3, output_sha256="ab" * 32, error="x"),
        start_time=1300.0, end_time=0.0,
    )  # fmt: skip


def placed(t: Task, node_id: str = "n1", attempt: int | None = None, state: TaskState = TaskState.RUNNING,
           **fields: object) -> Task:  # fmt: skip
    return replace(t, state=state, node_id=node_id, attempt=t.attempt + 1 if attempt is None else attempt,
                   start_time=t.create_time + 1, **fields)  # type: ignore[arg-type]  # fmt: skip


def ended(t: Task, state: TaskState = TaskState.COMPLETED, **fields: object) -> Task:
    return replace(t, state=state, end_time=t.create_time + 10, **fields)  # type: ignore[arg-type]


def line(attempt: int, line_no: int, text: str = "", stream: str = "stdout") -> LogLine:
    return LogLine(attempt, line_no, stream, text or f"line {line_no} of attempt {attempt}", 2000.0 + line_no)


def node(node_id: str, *, created: float = 100.0, seen: float = 200.0, gpus: int = 1, **fields: object) -> Node:
    caps = Capabilities(cpu_cores=8, memory_mb=16_384, os="Linux", platform="x86_64", python_version="3.11.7",
                        gpus=tuple(Gpu(i, f"GPU-{i}", "A100", 40_000, "8.0") for i in range(gpus)))  # fmt: skip
    return Node(node_id, hostname=f"{node_id}.local", state=NodeState.ONLINE, capabilities=caps, labels={"rack": "1"},
                agent_version="1.0", create_time=created, last_seen=seen, **fields)  # type: ignore[arg-type]


def dataset(dataset_id: str, created: float = 10.0) -> Dataset:
    return Dataset(dataset_id, "csv", 8, "cd" * 32, "flowers", created, sample_count=2, dimensions="4")


def model(name: str, created: float = 10.0, source_task_id: str = "") -> Model:
    return Model(name, 6, "ef" * 32, source_task_id, created)


def stored_node(n: Node) -> tuple[object, ...]:
    """What the store keeps of a node (usage lives in memory only)."""
    return (n.id, n.hostname, n.state, n.capabilities, n.labels, n.agent_version, n.create_time, n.last_seen)

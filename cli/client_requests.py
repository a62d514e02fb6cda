"""Building aifarm.v1 requests from what was typed on the command line."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from aifarm.v1 import node_pb2, task_pb2, task_service_pb2

PRIORITIES: dict[str, int] = {
    "low": task_pb2.TASK_PRIORITY_LOW,
    "normal": task_pb2.TASK_PRIORITY_NORMAL,
    "high": task_pb2.TASK_PRIORITY_HIGH,
    "critical": task_pb2.TASK_PRIORITY_CRITICAL,
}

TASK_STATES: dict[str, int] = {
    "pending": task_pb2.TASK_STATE_PENDING,
    "assigned": task_pb2.TASK_STATE_ASSIGNED,
    "running": task_pb2.TASK_STATE_RUNNING,
    "paused": task_pb2.TASK_STATE_PAUSED,
    "completed": task_pb2.TASK_STATE_COMPLETED,
    "failed": task_pb2.TASK_STATE_FAILED,
    "cancelled": task_pb2.TASK_STATE_CANCELLED,
}

TERMINAL_STATES = frozenset(
    {task_pb2.TASK_STATE_COMPLETED, task_pb2.TASK_STATE_FAILED, task_pb2.TASK_STATE_CANCELLED}
)

ARCHITECTURES = ("mlp", "cnn", "resnet18", "resnet50", "vgg16")
OPTIMIZERS = ("adam", "sgd", "rmsprop", "adamw")
LOSSES = ("cross_entropy", "mse", "mae", "bce")


def task_name(task_id: str) -> str:
    """``abc`` or ``tasks/abc`` -> ``tasks/abc``."""
    task_id = task_id.strip()
    return task_id if task_id.startswith("tasks/") else f"tasks/{task_id}"


def dataset_name(dataset: str) -> str:
    """``mnist`` or ``datasets/mnist`` -> ``datasets/mnist``."""
    return dataset if dataset.startswith("datasets/") else f"datasets/{dataset}"


def short_name(name: str) -> str:
    """``tasks/abc`` -> ``abc``; the last segment of a resource name."""
    return name.rsplit("/", 1)[-1] if name else ""


def parse_env(pairs: Iterable[str]) -> dict[str, str]:
    """``["K=V", ...]`` -> ``{"K": "V"}``; raises ValueError on a pair without '='."""
    env: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ValueError(f"--env expects KEY=VALUE, got {pair!r}")
        env[key] = value
    return env


@dataclass(frozen=True)
class Scheduling:
    """What every submitted task can say about placement and retries."""

    gpus: int = 0
    """Whole GPUs."""
    cpus: float = 0.0
    """CPU cores; 0 leaves it to the controller."""
    memory_mb: int = 0
    """RAM in MiB; 0 leaves it to the controller."""
    priority: str | None = None
    """One of :data:`PRIORITIES`; None leaves it to the controller."""
    display_name: str = ""
    """Human-readable name."""
    time_limit_seconds: int = 0
    """Wall-clock limit per attempt; 0 means none."""
    max_retries: int = 0
    """Retries after a failed attempt."""
    after: tuple[str, ...] = field(default_factory=tuple)
    """Ids or names of tasks that must complete first."""


def _base_task(scheduling: Scheduling) -> task_pb2.Task:
    task = task_pb2.Task(
        display_name=scheduling.display_name,
        resources=node_pb2.Resources(
            gpus=scheduling.gpus, cpu_cores=scheduling.cpus, memory_mb=scheduling.memory_mb
        ),
        depends_on=[task_name(t) for t in scheduling.after],
        time_limit_seconds=scheduling.time_limit_seconds,
        max_retries=scheduling.max_retries,
    )
    if scheduling.priority is not None:
        task.priority = PRIORITIES[scheduling.priority]
    return task


def _create_request(task: task_pb2.Task) -> task_service_pb2.CreateTaskRequest:
    # A fresh request id makes the create idempotent should the call be retried.
    return task_service_pb2.CreateTaskRequest(task=task, request_id=str(uuid.uuid4()))


def script_request(
    path: Path,
    source: str,
    args: Iterable[str],
    env: dict[str, str],
    scheduling: Scheduling,
) -> task_service_pb2.CreateTaskRequest:
    """CreateTaskRequest running ``source`` as a file named like ``path``."""
    task = _base_task(scheduling)
    task.script.CopyFrom(task_pb2.ScriptSpec(source=source, entrypoint=path.name, args=list(args), env=env))
    return _create_request(task)


def command_request(
    argv: Iterable[str], env: dict[str, str], working_directory: str, scheduling: Scheduling
) -> task_service_pb2.CreateTaskRequest:
    """CreateTaskRequest running ``argv`` as it is: no shell, no interpreter."""
    task = _base_task(scheduling)
    task.command.CopyFrom(task_pb2.CommandSpec(argv=list(argv), env=env, working_directory=working_directory))
    return _create_request(task)


@dataclass(frozen=True)
class TrainingOptions:
    """The training run as typed; zero values leave the controller's defaults."""

    architecture: str = "mlp"
    """One of :data:`ARCHITECTURES`."""
    epochs: int = 1
    """Passes over the training split."""
    batch_size: int = 0
    """Samples per step."""
    learning_rate: float = 0.0
    """Learning rate."""
    optimizer: str = ""
    """One of :data:`OPTIMIZERS`."""
    loss_function: str = ""
    """One of :data:`LOSSES`."""
    seed: int = 0
    """Seed for weights, shuffling and synthetic data."""
    device: str = ""
    """"auto", "cpu" or "cuda"."""
    dataset: str | None = None
    """A registry dataset; None trains on synthetic data."""
    samples: int = 0
    """Synthetic samples."""
    features: int = 0
    """Synthetic features per sample."""
    classes: int = 0
    """Synthetic classes."""
    image_size: int = 0
    """Synthetic image side; 0 makes tabular data."""


def training_request(
    options: TrainingOptions, scheduling: Scheduling
) -> task_service_pb2.CreateTaskRequest:
    """CreateTaskRequest for a torch training run."""
    spec = task_pb2.TrainingSpec(
        architecture=options.architecture,
        epochs=options.epochs,
        batch_size=options.batch_size,
        learning_rate=options.learning_rate,
        optimizer=options.optimizer,
        loss_function=options.loss_function,
        seed=options.seed,
        device=options.device,
    )
    if options.dataset is not None:
        spec.dataset = dataset_name(options.dataset)
    else:
        spec.synthetic.CopyFrom(
            task_pb2.SyntheticDataset(
                samples=options.samples,
                features=options.features,
                classes=options.classes,
                image_size=options.image_size,
            )
        )
    task = _base_task(scheduling)
    task.training.CopyFrom(spec)
    return _create_request(task)

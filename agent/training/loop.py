"""The training loop: real steps on real tensors, metrics, checkpoints, pause and stop.

Pause and stop are requests on a `Control`, honoured between steps: a paused
run blocks before its next step; a stopped one saves a checkpoint and returns
"cancelled". The checkpoint file is rewritten (atomically) at the end of each
epoch and at stop, with `epoch` = the number of epochs fully done.

Losses: `cross_entropy` on the logits; `mse` and `mae` regress the raw outputs
onto one-hot targets; `bce` applies a sigmoid per class against one-hot targets
(`binary_cross_entropy_with_logits`). Accuracy is always argmax(outputs) == label.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Protocol

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from agent.errors import TrainingError
from agent.training.data import Dataset
from agent.training.models import CODE_ARCHITECTURE, BaseModel, CodeModel, build_model
from taskspec.training import TrainingConfig

Criterion = Callable[[Tensor, Tensor], Tensor]
#: Seconds between progress events within an epoch.
_PROGRESS_INTERVAL = 0.25
#: Seconds between looks at the flags while paused.
_PAUSE_POLL = 0.05


class Events(Protocol):
    """Where the loop says what happens (the worker turns these into JSON lines)."""

    def log(self, text: str) -> None: ...
    def progress(self, fraction: float) -> None: ...
    def epoch(self, epoch: int, values: dict[str, float]) -> None: ...
    def checkpoint(self, path: Path) -> None: ...
    def paused(self) -> None: ...
    def resumed(self) -> None: ...


class Control:
    """Pause and stop requests, set from another thread or a signal handler.

    Plain attributes polled by the loop rather than locks or Events: a signal
    handler runs on the main thread, where taking a lock the loop holds would
    deadlock.
    """

    def __init__(self) -> None:
        self.pause_requested = False
        self.stop_requested = False

    def pause(self) -> None:
        self.pause_requested = True

    def resume(self) -> None:
        self.pause_requested = False

    def stop(self) -> None:
        self.stop_requested = True

    def gate(self, events: Events) -> bool:
        """Block while paused; True to take the next step, False to stop."""
        if self.pause_requested and not self.stop_requested:
            events.paused()
            while self.pause_requested and not self.stop_requested:
                time.sleep(_PAUSE_POLL)
            events.resumed()
        return not self.stop_requested


@dataclass
class TrainResult:
    """How the loop ended."""

    #: "completed" or "cancelled".
    state: str
    epochs_done: int
    checkpoint: Path
    history: list[dict[str, float]] = field(default_factory=list)


@dataclass
class _Session:
    """Everything one run works with."""

    config: TrainingConfig
    #: The built-in architecture trained (a registry model's own, when continuing one).
    architecture: str
    device: torch.device
    model: nn.Module
    optimizer: torch.optim.Optimizer
    criterion: Criterion
    train: tuple[Tensor, Tensor]
    val: tuple[Tensor, Tensor]
    input_shape: tuple[int, ...]
    num_classes: int
    checkpoint_path: Path
    generator: torch.Generator
    history: list[dict[str, float]] = field(default_factory=list)
    continued_from: str = ""

    @property
    def steps_per_epoch(self) -> int:
        return len(_bounds(len(self.train[1]), self.config.batch_size))


def train(
    config: TrainingConfig, data: Dataset, checkpoint_path: Path, control: Control, events: Events,
    base: BaseModel | CodeModel | None = None,
) -> TrainResult:
    """Train `config.epochs` epochs unless stopped, from `base`'s weights when given (with a fresh
    optimizer: its hyperparameters are this config's); raises `TrainingError` for unusable input."""
    session = _open_session(config, data, checkpoint_path, base)
    start = f" from model {base.name!r}" if base else ""
    events.log(
        f"training {session.architecture}{start} on {session.device}: {len(session.train[1])} train / "
        f"{len(session.val[1])} val samples, input {session.input_shape}, {session.num_classes} classes, "
        f"{session.steps_per_epoch} steps per epoch"
    )
    progress = _Progress(events, total_steps=config.epochs * session.steps_per_epoch)
    for epoch in range(1, config.epochs + 1):
        train_loss, train_acc = _train_epoch(session, control, events, progress)
        if train_loss is None:
            return _end(session, "cancelled", epoch - 1, events)
        val_loss, val_acc = evaluate(session.model, session.criterion, session.val, session.config.batch_size)
        values = {"loss": train_loss, "accuracy": train_acc, "val_loss": val_loss, "val_accuracy": val_acc}
        session.history.append(values)
        events.epoch(epoch, values)
        events.log(f"epoch {epoch}/{config.epochs}: " + " ".join(f"{k}={v:.4f}" for k, v in values.items()))
        progress.epoch_done(epoch * session.steps_per_epoch)
        save_checkpoint(session, epoch)
        events.checkpoint(session.checkpoint_path)
    return TrainResult("completed", config.epochs, session.checkpoint_path, session.history)


def _open_session(
    config: TrainingConfig, data: Dataset, checkpoint_path: Path, base: BaseModel | CodeModel | None
) -> _Session:
    device = resolve_device(config.device)
    torch.manual_seed(config.seed)
    generator = torch.Generator().manual_seed(config.seed)
    train_part, val_part = split(data, config.validation_split, generator)
    optimizer = None
    if isinstance(base, CodeModel):
        architecture = CODE_ARCHITECTURE
        model, optimizer = base.create(data.input_shape, data.num_classes)
    else:
        architecture = base.architecture if base else config.architecture
        model = build_model(architecture, data.input_shape, data.num_classes)
        if base is not None:
            _load_base(model, base, data)
    # An optimizer create_model() made holds the parameters; moving them keeps them the same tensors.
    model = model.to(device)
    return _Session(
        config=config,
        architecture=architecture,
        continued_from=base.name if base else "",
        device=device,
        model=model,
        optimizer=optimizer or make_optimizer(config.optimizer, model.parameters(), config.learning_rate),
        criterion=make_criterion(config.loss_function, data.num_classes),
        train=(train_part[0].to(device), train_part[1].to(device)),
        val=(val_part[0].to(device), val_part[1].to(device)),
        input_shape=data.input_shape,
        num_classes=data.num_classes,
        checkpoint_path=checkpoint_path,
        generator=generator,
    )


def _load_base(model: nn.Module, base: BaseModel, data: Dataset) -> None:
    """Put the base model's weights into `model`, built for `data`: the data must be what they were trained for."""
    if tuple(base.input_shape) != data.input_shape or base.num_classes != data.num_classes:
        shape = "x".join(map(str, data.input_shape))
        raise TrainingError(
            f"model {base.name!r} takes input {'x'.join(map(str, base.input_shape))} with {base.num_classes} classes; "
            f"the dataset has input {shape} with {data.num_classes} classes"
        )
    try:
        model.load_state_dict(base.state_dict)
    except (RuntimeError, KeyError, TypeError) as exc:  # missing, unexpected or mis-shaped weights
        raise TrainingError(f"model {base.name!r}: its weights do not fit a {base.architecture}: {exc}") from exc


def _end(session: _Session, state: str, epochs_done: int, events: Events) -> TrainResult:
    save_checkpoint(session, epochs_done)
    events.checkpoint(session.checkpoint_path)
    events.log(f"{state} after {epochs_done} full epoch(s)")
    return TrainResult(state, epochs_done, session.checkpoint_path, session.history)


def resolve_device(name: str) -> torch.device:
    """"auto" is CUDA when present; asking for CUDA without it is an error, not a silent CPU run."""
    if name in ("auto", ""):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise TrainingError("device 'cuda' was requested but CUDA is not available on this node")
    return torch.device(name)


def split(data: Dataset, validation_split: float, generator: torch.Generator) -> tuple[tuple[Tensor, Tensor], tuple[Tensor, Tensor]]:
    """Shuffle with the seeded generator and hold out `validation_split` (at least one sample each side)."""
    n = len(data)
    n_val = min(max(1, round(n * validation_split)), n - 1)
    order = torch.randperm(n, generator=generator)
    val_idx, train_idx = order[:n_val], order[n_val:]
    return (data.x[train_idx], data.y[train_idx]), (data.x[val_idx], data.y[val_idx])


def make_optimizer(name: str, params: Iterable[nn.Parameter], lr: float) -> torch.optim.Optimizer:
    if name == "adam":
        return torch.optim.Adam(params, lr=lr)
    if name == "adamw":
        return torch.optim.AdamW(params, lr=lr)
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=0.9)
    if name == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr)
    raise TrainingError(f"unknown optimizer {name!r}")


def make_criterion(name: str, num_classes: int) -> Criterion:
    def one_hot(y: Tensor) -> Tensor:
        return F.one_hot(y, num_classes).float()

    if name == "cross_entropy":
        return F.cross_entropy
    if name == "mse":
        return lambda out, y: F.mse_loss(out, one_hot(y))
    if name == "mae":
        return lambda out, y: F.l1_loss(out, one_hot(y))
    if name == "bce":
        return lambda out, y: F.binary_cross_entropy_with_logits(out, one_hot(y))
    raise TrainingError(f"unknown loss function {name!r}")


def _train_epoch(
    session: _Session, control: Control, events: Events, progress: _Progress
) -> tuple[float, float] | tuple[None, None]:
    """One pass over the shuffled training split; (None, None) when stopped."""
    model, x, y = session.model, *session.train
    model.train()
    total_loss, correct, seen = 0.0, 0, 0
    for index in _batch_indices(len(y), session.config.batch_size, session.generator):
        if not control.gate(events):
            return None, None
        out = model(x[index])
        loss = session.criterion(out, y[index])
        session.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        session.optimizer.step()
        total_loss += loss.item() * len(index)
        correct += int((out.argmax(dim=1) == y[index]).sum())
        seen += len(index)
        progress.step()
    return total_loss / seen, correct / seen


@torch.no_grad()
def evaluate(model: nn.Module, criterion: Criterion, part: tuple[Tensor, Tensor], batch_size: int) -> tuple[float, float]:
    """(mean loss, accuracy) of `model` over `part`, in eval mode."""
    model.eval()
    x, y = part
    total_loss, correct = 0.0, 0
    step = max(batch_size, 256)  # no gradients kept, so bigger batches are cheap
    for start in range(0, len(y), step):
        out = model(x[start : start + step])
        target = y[start : start + step]
        total_loss += criterion(out, target).item() * len(target)
        correct += int((out.argmax(dim=1) == target).sum())
    return total_loss / len(y), correct / len(y)


def _bounds(n: int, batch_size: int) -> list[tuple[int, int]]:
    bounds = [(start, min(start + batch_size, n)) for start in range(0, n, batch_size)]
    # A lone last sample breaks BatchNorm in training mode; give it to the batch before.
    if len(bounds) > 1 and bounds[-1][1] - bounds[-1][0] == 1:
        bounds[-2:] = [(bounds[-2][0], n)]
    return bounds


def _batch_indices(n: int, batch_size: int, generator: torch.Generator) -> Iterator[Tensor]:
    order = torch.randperm(n, generator=generator)
    for start, end in _bounds(n, batch_size):
        yield order[start:end]


def save_checkpoint(session: _Session, epoch: int) -> None:
    """Write the checkpoint via a temporary file, so a reader never sees half of one."""
    state = {
        "model_state_dict": _to_cpu(session.model.state_dict()),
        "optimizer_state_dict": _to_cpu(session.optimizer.state_dict()),
        "epoch": epoch,
        "architecture": session.architecture,
        "continued_from": session.continued_from,
        "input_shape": list(session.input_shape),
        "num_classes": session.num_classes,
        "metrics": list(session.history),
    }
    tmp = session.checkpoint_path.with_name(session.checkpoint_path.name + ".tmp")
    torch.save(state, tmp)
    os.replace(tmp, session.checkpoint_path)


def _to_cpu(value: Any) -> Any:
    """CPU copies of every tensor, so a checkpoint from a GPU node loads anywhere."""
    if isinstance(value, Tensor):
        return value.detach().cpu()
    if isinstance(value, dict):
        return type(value)((k, _to_cpu(v)) for k, v in value.items())
    if isinstance(value, list):
        return [_to_cpu(v) for v in value]
    return value


class _Progress:
    """Progress events: throttled within an epoch, exact at each epoch's end."""

    def __init__(self, events: Events, total_steps: int) -> None:
        self._events = events
        self._total = max(total_steps, 1)
        self._done = 0
        self._last_sent = time.monotonic()

    def step(self) -> None:
        self._done += 1
        if time.monotonic() - self._last_sent >= _PROGRESS_INTERVAL:
            self._send()

    def epoch_done(self, steps: int) -> None:
        self._done = steps
        self._send()

    def _send(self) -> None:
        self._last_sent = time.monotonic()
        self._events.progress(min(self._done / self._total, 1.0))

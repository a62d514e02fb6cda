"""The training loop in process: losses, optimisers, checkpoints, pause and stop."""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import torch

from agent.errors import TrainingError
from agent.training.data import make_synthetic
from agent.training.loop import Control, resolve_device, split, train
from agent.training.models import build_model
from taskspec.training import SyntheticData, TrainingConfig


@dataclass
class RecordingEvents:
    """Test double for loop.Events."""

    names: list[str] = field(default_factory=list)
    epochs: list[tuple[int, dict[str, float]]] = field(default_factory=list)
    fractions: list[float] = field(default_factory=list)

    def log(self, text: str) -> None:
        self.names.append("log")

    def progress(self, fraction: float) -> None:
        self.fractions.append(fraction)

    def epoch(self, epoch: int, values: dict[str, float]) -> None:
        self.epochs.append((epoch, values))

    def checkpoint(self, path: Path) -> None:
        self.names.append("checkpoint")

    def paused(self) -> None:
        self.names.append("paused")

    def resumed(self) -> None:
        self.names.append("resumed")


DATA = make_synthetic(SyntheticData(samples=240, features=8, classes=3), seed=3)


@pytest.mark.parametrize("optimizer", ["adam", "sgd", "rmsprop", "adamw"])
@pytest.mark.parametrize("loss", ["cross_entropy", "mse", "mae", "bce"])
def test_every_loss_and_optimizer_trains(tmp_path: Path, optimizer: str, loss: str) -> None:
    config = TrainingConfig("mlp", epochs=2, batch_size=16, learning_rate=0.01, optimizer=optimizer, loss_function=loss, seed=1)
    events = RecordingEvents()
    result = train(config, DATA, tmp_path / "c.pt", Control(), events)
    assert result.state == "completed" and result.epochs_done == 2
    assert [e for e, _ in events.epochs] == [1, 2]
    for _, values in events.epochs:
        assert set(values) == {"loss", "accuracy", "val_loss", "val_accuracy"}
        assert all(math.isfinite(v) for v in values.values())
    assert events.fractions[-1] == 1.0
    if loss == "cross_entropy":
        assert events.epochs[-1][1]["val_accuracy"] > 0.6  # chance is 1/3


def test_checkpoint_loads_into_a_fresh_model(tmp_path: Path) -> None:
    config = TrainingConfig("mlp", epochs=1, seed=2)
    result = train(config, DATA, tmp_path / "c.pt", Control(), RecordingEvents())
    saved = torch.load(result.checkpoint, weights_only=True)
    assert saved["epoch"] == 1 and saved["architecture"] == "mlp"
    assert saved["input_shape"] == [8] and saved["num_classes"] == 3
    assert len(saved["metrics"]) == 1 and "optimizer_state_dict" in saved
    build_model("mlp", saved["input_shape"], saved["num_classes"]).load_state_dict(saved["model_state_dict"])
    assert not (tmp_path / "c.pt.tmp").exists()


def test_stop_before_the_first_step_still_checkpoints(tmp_path: Path) -> None:
    control = Control()
    control.stop()
    events = RecordingEvents()
    result = train(TrainingConfig("mlp", epochs=5), DATA, tmp_path / "c.pt", control, events)
    assert result.state == "cancelled" and result.epochs_done == 0
    assert torch.load(result.checkpoint, weights_only=True)["epoch"] == 0
    assert events.epochs == [] and "checkpoint" in events.names


def test_pause_blocks_until_resume(tmp_path: Path) -> None:
    control = Control()
    control.pause()
    resumer = threading.Timer(0.3, control.resume)
    resumer.start()
    started = time.monotonic()
    events = RecordingEvents()
    result = train(TrainingConfig("mlp", epochs=1), DATA, tmp_path / "c.pt", control, events)
    assert time.monotonic() - started >= 0.3
    assert result.state == "completed"
    assert events.names[:3] == ["log", "paused", "resumed"]


def test_split_keeps_a_sample_on_each_side() -> None:
    gen = torch.Generator().manual_seed(0)
    (xt, yt), (xv, yv) = split(DATA, 0.2, gen)
    assert (len(yt), len(yv)) == (192, 48)
    tiny = make_synthetic(SyntheticData(samples=2), 0)
    (_, yt), (_, yv) = split(tiny, 0.01, gen)
    assert (len(yt), len(yv)) == (1, 1)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-CUDA path")
def test_cuda_without_a_gpu_is_a_clear_error() -> None:
    assert resolve_device("auto").type == "cpu"
    with pytest.raises(TrainingError, match="CUDA is not available"):
        resolve_device("cuda")


def test_stop_while_paused_ends_the_run(tmp_path: Path) -> None:
    control = Control()
    control.pause()
    threading.Timer(0.2, control.stop).start()
    result = train(TrainingConfig("mlp", epochs=3), DATA, tmp_path / "c.pt", control, RecordingEvents())
    assert result.state == "cancelled" and result.epochs_done == 0
    assert (tmp_path / "c.pt").is_file()

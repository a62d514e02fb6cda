"""TrainingRunner with the real worker subprocess and real torch on small data."""

from __future__ import annotations

import asyncio
import hashlib
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Awaitable, Callable

import numpy as np
import pytest
import torch

from agent.runners.base import FinalState, LogSource, Outcome, RunContext
from agent.runners.training import TrainingRunner
from agent.training.models import build_model
from aifarm.v1 import task_pb2


@dataclass
class RecordingReporter:
    """Test double for TaskReporter: records every call."""

    logs: list[tuple[LogSource, str]] = field(default_factory=list)
    progress_values: list[float] = field(default_factory=list)
    metrics: list[tuple[int, dict[str, float]]] = field(default_factory=list)
    pauses: list[bool] = field(default_factory=list)

    def log(self, source: LogSource, text: str) -> None:
        self.logs.append((source, text))

    def progress(self, fraction: float) -> None:
        self.progress_values.append(fraction)

    def metric(self, epoch: int, values: dict[str, float]) -> None:
        self.metrics.append((epoch, values))

    def paused(self, is_paused: bool) -> None:
        self.pauses.append(is_paused)

    def lines(self, source: LogSource) -> list[str]:
        return [text for src, text in self.logs if src is source]


def _fetcher(path: Path | None) -> Callable[[str], Awaitable[Path]]:
    async def fetch(name: str) -> Path:
        if path is None:
            raise LookupError(f"{name} not found")
        return path

    return fetch


def _runner(
    tmp_path: Path, spec: task_pb2.TrainingSpec, time_limit: int = 0, dataset: Path | None = None
) -> tuple[TrainingRunner, RecordingReporter]:
    workdir = tmp_path / "work"
    workdir.mkdir()
    ctx = RunContext("t-9", 1, workdir, time_limit, _fetcher(dataset))
    reporter = RecordingReporter()
    return TrainingRunner(spec, ctx, reporter, grace_seconds=2.0), reporter


def _tabular(epochs: int, samples: int = 256, **fields: object) -> task_pb2.TrainingSpec:
    synthetic = task_pb2.SyntheticDataset(samples=samples, features=8, classes=4)
    return task_pb2.TrainingSpec(architecture="mlp", synthetic=synthetic, epochs=epochs, seed=7, **fields)  # type: ignore[arg-type]


async def _until(predicate: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.02)


def _load_checkpoint(outcome: Outcome) -> dict[str, object]:
    assert len(outcome.artifacts) == 1
    saved = torch.load(outcome.artifacts[0], weights_only=True)
    model = build_model(saved["architecture"], saved["input_shape"], saved["num_classes"])
    model.load_state_dict(saved["model_state_dict"])
    return saved


async def test_tabular_training_completes_with_metrics_and_checkpoint(tmp_path: Path) -> None:
    runner, reporter = _runner(tmp_path, _tabular(epochs=3))
    outcome = await runner.run()
    assert outcome.state is FinalState.COMPLETED, outcome.error
    assert [epoch for epoch, _ in reporter.metrics] == [1, 2, 3]
    final = reporter.metrics[-1][1]
    assert set(final) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert final["val_accuracy"] > 0.6  # chance is 0.25
    assert reporter.metrics[0][1]["loss"] > final["loss"]
    assert reporter.progress_values[-1] == 1.0
    saved = _load_checkpoint(outcome)
    assert saved["epoch"] == 3 and saved["num_classes"] == 4
    assert outcome.output_sha256 == hashlib.sha256(outcome.artifacts[0].read_bytes()).hexdigest()
    assert reporter.lines(LogSource.SYSTEM)[0].startswith("starting: training mlp")
    assert any(line.startswith("training mlp on cpu") for line in reporter.lines(LogSource.STDOUT))


async def test_image_training_with_a_cnn(tmp_path: Path) -> None:
    synthetic = task_pb2.SyntheticDataset(samples=192, classes=3, image_size=8, channels=1)
    spec = task_pb2.TrainingSpec(architecture="cnn", synthetic=synthetic, epochs=2, batch_size=16, learning_rate=0.01)
    runner, reporter = _runner(tmp_path, spec)
    outcome = await runner.run()
    assert outcome.state is FinalState.COMPLETED, outcome.error
    assert len(reporter.metrics) == 2
    assert reporter.metrics[-1][1]["val_accuracy"] > 0.5  # chance is 1/3
    assert _load_checkpoint(outcome)["input_shape"] == [1, 8, 8]


async def test_stop_mid_run_cancels_with_a_checkpoint(tmp_path: Path) -> None:
    runner, reporter = _runner(tmp_path, _tabular(epochs=1000, samples=2048))
    task = asyncio.create_task(runner.run())
    await _until(lambda: len(reporter.metrics) >= 1)
    await runner.stop()
    await runner.stop()
    outcome = await task
    assert outcome.state is FinalState.CANCELLED
    assert len(reporter.metrics) < 1000
    saved = _load_checkpoint(outcome)
    assert saved["epoch"] >= 1
    assert outcome.output_sha256 == hashlib.sha256(outcome.artifacts[0].read_bytes()).hexdigest()
    await runner.stop()
    await runner.cancel()
    await runner.pause()


async def test_pause_holds_training_until_resume_then_cancel(tmp_path: Path) -> None:
    runner, reporter = _runner(tmp_path, _tabular(epochs=1000, samples=2048))
    task = asyncio.create_task(runner.run())
    await _until(lambda: len(reporter.metrics) >= 1)
    await runner.pause()
    await runner.pause()
    await _until(lambda: reporter.pauses == [True])
    # Events are ordered: everything before "paused" has arrived by now.
    seen = (len(reporter.metrics), len(reporter.progress_values))
    await asyncio.sleep(1.0)
    assert (len(reporter.metrics), len(reporter.progress_values)) == seen, "a paused run must not train"
    await runner.resume()
    await _until(lambda: len(reporter.metrics) > seen[0])
    assert reporter.pauses == [True, False]
    started = time.monotonic()
    await runner.cancel()
    outcome = await task
    assert time.monotonic() - started < 2
    assert outcome.state is FinalState.CANCELLED


async def test_time_limit_fails_the_run(tmp_path: Path) -> None:
    runner, _ = _runner(tmp_path, _tabular(epochs=1000, samples=2048), time_limit=4)
    started = time.monotonic()
    outcome = await runner.run()
    assert time.monotonic() - started < 8
    assert outcome.state is FinalState.FAILED
    assert outcome.error == "time limit of 4 s exceeded"


async def test_dataset_file_is_fetched_and_trained_on(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 200)
    x = rng.normal(size=(200, 5)) + 2.0 * y[:, None]
    path = tmp_path / "easy.npz"
    np.savez(path, x=x, y=y)
    spec = task_pb2.TrainingSpec(architecture="mlp", dataset="datasets/easy", epochs=2, learning_rate=0.01)
    runner, reporter = _runner(tmp_path, spec, dataset=path)
    outcome = await runner.run()
    assert outcome.state is FinalState.COMPLETED, outcome.error
    assert reporter.metrics[-1][1]["val_accuracy"] > 0.8
    assert _load_checkpoint(outcome)["input_shape"] == [5]


async def test_malformed_dataset_file_fails_clearly(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("a,b,label\n1,2,0\n3,oops,1\n")
    spec = task_pb2.TrainingSpec(architecture="mlp", dataset="datasets/bad", epochs=1)
    runner, _ = _runner(tmp_path, spec, dataset=path)
    outcome = await runner.run()
    assert outcome.state is FinalState.FAILED
    assert outcome.error == "bad.csv: line 3, column 2: 'oops' is not a number"


async def test_unfetchable_dataset_fails(tmp_path: Path) -> None:
    spec = task_pb2.TrainingSpec(architecture="mlp", dataset="datasets/none", epochs=1)
    runner, _ = _runner(tmp_path, spec, dataset=None)
    outcome = await runner.run()
    assert outcome.state is FinalState.FAILED
    assert "cannot fetch dataset 'datasets/none'" in outcome.error


async def test_worker_crash_reports_the_stderr_tail(tmp_path: Path) -> None:
    # One training sample with a 1x1 map in the last stage: BatchNorm raises in
    # the worker, an unexpected error that must surface as a crash.
    synthetic = task_pb2.SyntheticDataset(samples=2, classes=2, image_size=4, channels=1)
    spec = task_pb2.TrainingSpec(architecture="resnet18", synthetic=synthetic, epochs=1, batch_size=1)
    runner, reporter = _runner(tmp_path, spec)
    outcome = await runner.run()
    assert outcome.state is FinalState.FAILED
    assert outcome.error.startswith("training worker exited with code 1:")
    assert "Expected more than 1 value per channel" in outcome.error
    assert reporter.lines(LogSource.STDERR)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"epochs": 0}, "epochs must be 1 to 1000"),
        ({"epochs": 1, "batch_size": 300}, "batch_size must be 1 to 256"),
        ({"epochs": 1, "learning_rate": 2.0}, "learning_rate must be 0.0001 to 1.0"),
        ({"epochs": 1, "optimizer": "lion"}, "optimizer 'lion' is not one of"),
        ({"epochs": 1, "loss_function": "hinge"}, "loss_function 'hinge' is not one of"),
        ({"epochs": 1, "device": "tpu"}, "device 'tpu' is not one of"),
        ({"epochs": 1, "architecture": "vgg"}, "architecture 'vgg' is not one of"),
        ({"epochs": 1, "architecture": "cnn"}, "needs image data"),
        ({"epochs": 1, "synthetic": None}, "training needs data"),
    ],
)
async def test_invalid_specs_fail_without_a_worker(tmp_path: Path, fields: dict[str, object], message: str) -> None:
    spec = _tabular(epochs=1)
    for name, value in fields.items():
        if value is None:
            spec.ClearField(name)
        else:
            setattr(spec, name, value)
    runner, reporter = _runner(tmp_path, spec)
    outcome = await runner.run()
    assert outcome.state is FinalState.FAILED
    assert message in outcome.error
    assert reporter.metrics == [] and outcome.artifacts == []

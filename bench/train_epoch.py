"""Time one training epoch of each architecture on the built-in synthetic images.

    python bench/train_epoch.py [--samples 512] [--image-size 32] [--batch-size 32]
                                [--architectures mlp,cnn,resnet18,resnet50] [--devices cpu,cuda]

Runs the real loop (`agent.training.loop.train`, one epoch) and prints, per
architecture and device: the epoch (training pass plus validation), the
checkpoint write, and training samples per second over the epoch. CUDA rows
appear when CUDA is available. The first CUDA row includes one-time start-up
costs (context, cuDNN heuristics), so a warm-up epoch runs first there.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

from agent.training.data import make_synthetic
from agent.training.loop import Control, train
from taskspec.training import SyntheticData, TrainingConfig


@dataclass
class Timer:
    """`loop.Events` that notes when the epoch starts, ends and is checkpointed."""

    marks: dict[str, float] = field(default_factory=dict)

    def log(self, text: str) -> None:
        self.marks.setdefault("start", time.perf_counter())

    def progress(self, fraction: float) -> None:
        pass

    def epoch(self, epoch: int, values: dict[str, float]) -> None:
        self.marks["epoch"] = time.perf_counter()
        self.marks["val_accuracy"] = values["val_accuracy"]

    def checkpoint(self, path: Path) -> None:
        self.marks["checkpoint"] = time.perf_counter()

    def paused(self) -> None:
        pass

    def resumed(self) -> None:
        pass


@dataclass(frozen=True)
class Row:
    architecture: str
    device: str
    epoch_s: float
    checkpoint_s: float
    samples_per_s: float
    val_accuracy: float


def time_epoch(architecture: str, device: str, args: argparse.Namespace, workdir: Path) -> Row:
    data = make_synthetic(SyntheticData(samples=args.samples, classes=4, image_size=args.image_size, channels=3), seed=0)
    config = TrainingConfig(architecture, epochs=1, batch_size=args.batch_size, device=device, seed=0)
    if device == "cuda":
        train(config, data, workdir / "warmup.pt", Control(), Timer())
    timer = Timer()
    train(config, data, workdir / f"{architecture}-{device}.pt", Control(), timer)
    marks = timer.marks
    epoch_s = marks["epoch"] - marks["start"]
    n_train = args.samples - round(args.samples * config.validation_split)
    return Row(architecture, device, epoch_s, marks["checkpoint"] - marks["epoch"], n_train / epoch_s, marks["val_accuracy"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=512)
    parser.add_argument("--image-size", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--architectures", default="mlp,cnn,resnet18,resnet50")
    parser.add_argument("--devices", default="cpu,cuda")
    args = parser.parse_args()
    devices = [d for d in args.devices.split(",") if d != "cuda" or torch.cuda.is_available()]
    gpu = f", GPU {torch.cuda.get_device_name(0)}" if torch.cuda.is_available() else ", no CUDA"
    print(
        f"one epoch, {args.samples} synthetic images 3x{args.image_size}x{args.image_size}, 4 classes, "
        f"batch {args.batch_size}; torch {torch.__version__}, {torch.get_num_threads()} CPU threads{gpu}"
    )
    print(f"{'architecture':<12} {'device':<6} {'epoch s':>9} {'ckpt s':>8} {'samples/s':>10} {'val acc':>8}")
    with tempfile.TemporaryDirectory() as tmp:
        for architecture in args.architectures.split(","):
            for device in devices:
                row = time_epoch(architecture, device, args, Path(tmp))
                print(
                    f"{row.architecture:<12} {row.device:<6} {row.epoch_s:>9.2f} {row.checkpoint_s:>8.2f} "
                    f"{row.samples_per_s:>10.1f} {row.val_accuracy:>8.3f}",
                    flush=True,
                )
    return 0


if __name__ == "__main__":
    sys.exit(main())

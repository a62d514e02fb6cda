"""What a training worker is told to do, as JSON: the runner writes it, the worker reads it back.

The training spec itself (hyperparameters, ranges, synthetic data) is `taskspec.training`,
shared with the controller; this module imports no torch either.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any

from agent.errors import TrainingError
from taskspec.training import SyntheticData, TrainingConfig


@dataclass(frozen=True)
class Rendezvous:
    """Where a rank stands in its gang (from the controller's assignment)."""

    rank: int
    world_size: int
    master_addr: str
    master_port: int

    def validate(self) -> None:
        if self.world_size < 1 or not 0 <= self.rank < self.world_size:
            raise TrainingError(f"rank {self.rank} is not within world size {self.world_size}")
        if not self.master_addr or not 0 < self.master_port < 65536:
            raise TrainingError(f"rendezvous address {self.master_addr}:{self.master_port} is not usable")


@dataclass(frozen=True)
class WorkerSpec:
    """Everything the worker needs: the config, the data, where to checkpoint."""

    config: TrainingConfig
    #: Absolute path of the checkpoint file the worker (re)writes.
    checkpoint_path: str
    #: Exactly one of `synthetic` and `dataset_path` is set.
    synthetic: SyntheticData | None = None
    dataset_path: str = ""
    #: A registry model to train further: its checkpoint's local copy and its name ("" for none).
    base_model_path: str = ""
    base_model_name: str = ""
    #: Code defining create_model() to train (a model_url's {"code": ...} answer); base_model_name names it.
    model_code_path: str = ""
    #: A rank of a gang: train with torch.distributed (None: alone).
    rendezvous: Rendezvous | None = None

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)

    @classmethod
    def from_json(cls, text: str) -> WorkerSpec:
        raw: dict[str, Any] = json.loads(text)
        synthetic = raw.get("synthetic")
        return cls(
            config=TrainingConfig(**raw["config"]),
            checkpoint_path=raw["checkpoint_path"],
            synthetic=SyntheticData(**synthetic) if synthetic else None,
            dataset_path=raw.get("dataset_path", ""),
            base_model_path=raw.get("base_model_path", ""),
            base_model_name=raw.get("base_model_name", ""),
            model_code_path=raw.get("model_code_path", ""),
            rendezvous=Rendezvous(**raw["rendezvous"]) if raw.get("rendezvous") else None,
        )

"""DDP training of a gang's ranks through torch.distributed (gloo on CPU), each rank its own process."""

from __future__ import annotations

import json
import multiprocessing
import sys
from pathlib import Path

import pytest
import torch

from agent.errors import TrainingError
from agent.training.distributed import backend_for, free_port, train_distributed
from agent.training.spec import Rendezvous

WORLD_SIZE = 2


class _Events:
    def __init__(self) -> None:
        self.epochs: list[dict[str, float]] = []
        self.checkpoints = 0

    def log(self, text: str) -> None:
        pass

    def progress(self, fraction: float) -> None:
        pass

    def epoch(self, epoch: int, values: dict[str, float]) -> None:
        self.epochs.append(values)

    def checkpoint(self, path: Path) -> None:
        self.checkpoints += 1

    def paused(self) -> None:
        pass

    def resumed(self) -> None:
        pass


def _rank_main(rank: int, port: int, out: str, stop_at_rank1: bool) -> None:
    """One rank, in a process of its own (spawned: a clean torch, as an agent's worker is)."""
    torch.set_num_threads(1)
    from agent.training.data import make_synthetic
    from agent.training.loop import Control
    from taskspec.training import SyntheticData, TrainingConfig

    config = TrainingConfig("mlp", epochs=3, batch_size=32, learning_rate=0.01, seed=7, device="cpu")
    data = make_synthetic(SyntheticData(samples=256, features=8, classes=3), seed=7)
    control = Control()
    if stop_at_rank1 and rank == 1:
        control.stop()  # only rank 1 is asked; rank 0 must stop with it rather than hang
    events = _Events()
    done = train_distributed(config, data, Path(out) / f"rank{rank}.pt", control, events,
                             Rendezvous(rank, WORLD_SIZE, "127.0.0.1", port), timeout=60)  # fmt: skip
    (Path(out) / f"rank{rank}.json").write_text(json.dumps({
        "state": done.result.state, "sha": done.weights_sha256, "epochs": events.epochs,
        "wrote": done.wrote_checkpoint, "checkpoints": events.checkpoints,
    }))  # fmt: skip


def _run_gang(tmp_path: Path, *, stop_at_rank1: bool = False) -> list[dict]:
    ctx = multiprocessing.get_context("spawn")
    port = free_port()
    procs = [ctx.Process(target=_rank_main, args=(r, port, str(tmp_path), stop_at_rank1)) for r in range(WORLD_SIZE)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=120)
    for p in procs:
        if p.is_alive():
            p.kill()
    assert [p.exitcode for p in procs] == [0] * WORLD_SIZE
    return [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in range(WORLD_SIZE)]


@pytest.mark.skipif(sys.platform == "win32", reason="gloo over TCP")
def test_ranks_end_with_identical_weights_and_rank0_checkpoint(tmp_path: Path) -> None:
    ranks = _run_gang(tmp_path)
    assert {r["state"] for r in ranks} == {"completed"}
    assert ranks[0]["sha"] == ranks[1]["sha"]  # gradients were all-reduced
    losses = [e["loss"] for e in ranks[0]["epochs"]]
    assert len(losses) == 3 and losses[-1] < losses[0]
    assert ranks[0]["epochs"] == ranks[1]["epochs"]  # the gang's metrics are reduced over all ranks
    assert ranks[0]["wrote"] and not ranks[1]["wrote"]
    assert ranks[0]["checkpoints"] == 3 and ranks[1]["checkpoints"] == 0
    assert not (tmp_path / "rank1.pt").exists()
    checkpoint = torch.load(tmp_path / "rank0.pt", weights_only=True)
    assert checkpoint["epoch"] == 3 and checkpoint["architecture"] == "mlp"
    assert not any(k.startswith("module.") for k in checkpoint["model_state_dict"])  # loads into a plain model


def test_a_stop_on_one_rank_stops_the_whole_gang(tmp_path: Path) -> None:
    ranks = _run_gang(tmp_path, stop_at_rank1=True)
    assert {r["state"] for r in ranks} == {"cancelled"}
    assert ranks[0]["sha"] == ranks[1]["sha"]
    assert torch.load(tmp_path / "rank0.pt", weights_only=True)["epoch"] == 0


def test_backend_and_rendezvous_checks() -> None:
    assert backend_for(torch.device("cpu")) == "gloo"
    assert backend_for(torch.device("cuda", 0)) == "nccl"
    with pytest.raises(TrainingError):
        Rendezvous(2, 2, "127.0.0.1", 1234).validate()
    with pytest.raises(TrainingError):
        Rendezvous(0, 2, "", 1234).validate()

"""Distributed data-parallel training: one rank of a gang, through torch.distributed.

Every rank builds the same session from the same seed (same split, same initial
weights; DDP also broadcasts rank 0's weights when it wraps the model), trains
on its own shard of each epoch's shuffled training split, and DDP all-reduces
the gradients, so all ranks hold identical weights after every step. Backend:
NCCL when the session runs on CUDA, gloo otherwise. The rendezvous is
``tcp://master_addr:master_port`` (rank 0's node and the port its agent reserved).

A stop asked of any rank stops all of them at the same step: each step
all-reduces a stop flag, so no rank is left waiting in a collective. Only rank 0
writes the checkpoint (its path is the task's artifact); every rank reports the
sha256 of its final weights, so their equality can be checked.
"""

from __future__ import annotations

import datetime
import hashlib
import socket
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

from agent.errors import TrainingError
from agent.training.data import Dataset
from agent.training.loop import (
    Control,
    Events,
    TrainResult,
    _bounds,
    _open_session,
    _Progress,
    _Session,
    evaluate,
    save_checkpoint,
)
from agent.training.models import BaseModel, CodeModel
from agent.training.spec import Rendezvous
from taskspec.training import TrainingConfig

#: Seconds a rank waits for the others at the rendezvous and in each collective.
DEFAULT_TIMEOUT = 120.0


@dataclass
class DistributedResult:
    result: TrainResult
    #: sha256 over this rank's final weights (identical across the ranks of a healthy run).
    weights_sha256: str
    #: Whether this rank wrote the checkpoint (rank 0 only).
    wrote_checkpoint: bool


def free_port(host: str = "127.0.0.1") -> int:
    """A port free on `host` now (what an agent reserves for a rank 0 it may host)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def backend_for(device: torch.device) -> str:
    return "nccl" if device.type == "cuda" else "gloo"


def weights_sha256(model: torch.nn.Module) -> str:
    digest = hashlib.sha256()
    for name, value in sorted(model.state_dict().items()):
        digest.update(name.encode())
        digest.update(value.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def train_distributed(
    config: TrainingConfig, data: Dataset, checkpoint_path: Path, control: Control, events: Events,
    rendezvous: Rendezvous, base: BaseModel | CodeModel | None = None, timeout: float = DEFAULT_TIMEOUT,
) -> DistributedResult:  # fmt: skip
    """Train this rank of the gang (every rank from `base` when given); raises `TrainingError` for
    unusable input or a failed rendezvous."""
    rendezvous.validate()
    session = _open_session(config, data, checkpoint_path, base)
    if session.device.type == "cuda":
        torch.cuda.set_device(session.device)
    backend = backend_for(session.device)
    url = f"tcp://{rendezvous.master_addr}:{rendezvous.master_port}"
    try:
        dist.init_process_group(backend, init_method=url, rank=rendezvous.rank, world_size=rendezvous.world_size,
                                timeout=datetime.timedelta(seconds=timeout))  # fmt: skip
    except (RuntimeError, ValueError) as exc:  # torch's DistStoreError is a RuntimeError
        raise TrainingError(f"rendezvous at {url} failed: {exc}") from exc
    try:
        return _run(session, control, events, rendezvous)
    finally:
        dist.destroy_process_group()


def _run(session: _Session, control: Control, events: Events, rv: Rendezvous) -> DistributedResult:
    config = session.config
    ddp = DistributedDataParallel(session.model, device_ids=[session.device.index] if session.device.type == "cuda" else None)
    shard = _shard_size(len(session.train[1]), rv.world_size)
    if shard < 1:
        raise TrainingError(f"{len(session.train[1])} training samples cannot be shared by {rv.world_size} ranks")
    steps = len(_bounds(shard, config.batch_size))
    events.log(f"rank {rv.rank}/{rv.world_size} ({backend_for(session.device)} on {session.device}): "
               f"{shard} of {len(session.train[1])} train samples per epoch, {steps} steps per epoch")  # fmt: skip
    progress = _Progress(events, total_steps=config.epochs * steps)
    epochs_done, state = 0, "completed"
    for epoch in range(1, config.epochs + 1):
        trained = _train_epoch(session, ddp, control, events, progress, rv)
        if trained is None:
            state = "cancelled"
            break
        train_loss, train_acc = trained
        val_loss, val_acc = evaluate(session.model, session.criterion, session.val, config.batch_size)
        values = {"loss": train_loss, "accuracy": train_acc, "val_loss": val_loss, "val_accuracy": val_acc}
        session.history.append(values)
        events.epoch(epoch, values)
        events.log(f"epoch {epoch}/{config.epochs}: " + " ".join(f"{k}={v:.4f}" for k, v in values.items()))
        progress.epoch_done(epoch * steps)
        epochs_done = epoch
        if rv.rank == 0:
            save_checkpoint(session, epoch)
            events.checkpoint(session.checkpoint_path)
    if state == "cancelled" and rv.rank == 0:
        save_checkpoint(session, epochs_done)
        events.checkpoint(session.checkpoint_path)
    dist.barrier()  # rank 0's checkpoint is on disk before any rank reports the end
    digest = weights_sha256(session.model)
    events.log(f"{state} after {epochs_done} full epoch(s); weights sha256 {digest}")
    return DistributedResult(TrainResult(state, epochs_done, session.checkpoint_path, session.history), digest,
                             wrote_checkpoint=rv.rank == 0)  # fmt: skip


def _shard_size(n: int, world_size: int) -> int:
    return n // world_size


def _train_epoch(
    session: _Session, ddp: DistributedDataParallel, control: Control, events: Events, progress: _Progress,
    rv: Rendezvous,
) -> tuple[float, float] | None:  # fmt: skip
    """One epoch on this rank's shard; the gang's mean loss and accuracy, or None when any rank stopped."""
    x, y = session.train
    # The same permutation on every rank (the generators share the seed and are drawn alike),
    # cut to equal shards, so every rank takes the same number of steps.
    order = torch.randperm(len(y), generator=session.generator)
    shard = order[: _shard_size(len(y), rv.world_size) * rv.world_size][rv.rank :: rv.world_size]
    ddp.train()
    totals = torch.zeros(3, dtype=torch.float64, device=session.device)  # loss sum, correct, seen
    flag = torch.zeros(1, dtype=torch.int32, device=session.device)
    for start, end in _bounds(len(shard), session.config.batch_size):
        flag.fill_(0 if control.gate(events) else 1)
        dist.all_reduce(flag, op=dist.ReduceOp.MAX)
        if int(flag.item()):
            return None
        index = shard[start:end].to(session.device)
        out = ddp(x[index])
        loss = session.criterion(out, y[index])
        session.optimizer.zero_grad(set_to_none=True)
        loss.backward()  # DDP all-reduces the gradients here
        session.optimizer.step()
        totals += torch.tensor([loss.item() * len(index), float((out.argmax(dim=1) == y[index]).sum()), len(index)],
                               dtype=torch.float64, device=session.device)  # fmt: skip
        progress.step()
    dist.all_reduce(totals)
    loss_sum, correct, seen = (float(v) for v in totals.tolist())
    return loss_sum / seen, correct / seen

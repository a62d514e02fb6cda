"""The training worker process: `python -m agent.training.worker SPEC_JSON_PATH`.

Runs one training (see `loop.train`; a gang's rank: `distributed.train_distributed`) and speaks JSON lines on stdout, one
object per line:

    {"event": "log", "text": "..."}
    {"event": "progress", "fraction": 0.25}
    {"event": "epoch", "epoch": 1, "values": {"loss": .., "accuracy": .., "val_loss": .., "val_accuracy": ..}}
    {"event": "checkpoint", "path": "/abs/checkpoint.pt"}
    {"event": "paused"} / {"event": "resumed"}
    {"event": "done", "state": "completed" | "cancelled" | "failed", "error": ""}

"failed" carries a message meant for the user (bad dataset, CUDA missing, an
architecture that cannot take the data); the exit code is then 1. A crash
prints a traceback on stderr and ends without "done".

Commands arrive on stdin, one per line: "pause", "resume", "stop". End of
stdin means the agent has gone and counts as "stop"; so does SIGTERM. Both end
the run at the next step with a checkpoint and "done" "cancelled".
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
from pathlib import Path
from typing import Any, TextIO

from agent.training.data import Dataset, load_dataset, make_synthetic
from agent.training.distributed import train_distributed
from agent.training.loop import Control, train
from agent.training.models import BaseModel, CodeModel, load_base_model
from agent.training.spec import WorkerSpec
from taskspec.errors import WorkError
from taskspec.training import validate_config


class JsonLines:
    """The `loop.Events` of the worker: each event one JSON line, flushed at once."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._lock = threading.Lock()

    def emit(self, event: str, **fields: Any) -> None:
        line = json.dumps({"event": event, **fields})
        with self._lock:
            self._stream.write(line + "\n")
            self._stream.flush()

    def log(self, text: str) -> None:
        self.emit("log", text=text)

    def progress(self, fraction: float) -> None:
        self.emit("progress", fraction=round(fraction, 6))

    def epoch(self, epoch: int, values: dict[str, float]) -> None:
        self.emit("epoch", epoch=epoch, values=values)

    def checkpoint(self, path: Path) -> None:
        self.emit("checkpoint", path=str(path))

    def paused(self) -> None:
        self.emit("paused")

    def resumed(self) -> None:
        self.emit("resumed")

    def done(self, state: str, error: str = "") -> None:
        self.emit("done", state=state, error=error)


def protocol_stream() -> TextIO:
    """Keep the real stdout for the protocol; send anything else printed to stderr.

    A library that prints to stdout would otherwise corrupt the JSON lines.
    """
    fd = os.dup(1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return os.fdopen(fd, "w", encoding="utf-8")


def read_commands(fd: int, control: Control) -> None:
    """Apply stdin commands until end of input, which counts as "stop".

    Reads the raw descriptor: a daemon thread blocked inside `sys.stdin`'s
    buffered reader can abort the interpreter at shutdown.
    """
    actions = {"pause": control.pause, "resume": control.resume, "stop": control.stop}
    pending = b""
    while chunk := os.read(fd, 4096):
        pending += chunk
        *lines, pending = pending.split(b"\n")
        for line in lines:
            action = actions.get(line.decode("utf-8", errors="replace").strip())
            if action is not None:
                action()
    control.stop()


def load_data(spec: WorkerSpec) -> Dataset:
    if spec.synthetic is not None:
        return make_synthetic(spec.synthetic, spec.config.seed)
    return load_dataset(Path(spec.dataset_path))


def start_model(spec: WorkerSpec) -> BaseModel | CodeModel | None:
    """What the training starts from: a checkpoint's weights, create_model() code, or nothing (fresh)."""
    if spec.model_code_path:
        return CodeModel(spec.base_model_name, Path(spec.model_code_path))
    if spec.base_model_path:
        return load_base_model(Path(spec.base_model_path), spec.base_model_name)
    return None


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m agent.training.worker SPEC_JSON_PATH", file=sys.stderr)
        return 2
    events = JsonLines(protocol_stream())
    control = Control()
    signal.signal(signal.SIGTERM, lambda *_: control.stop())
    threading.Thread(target=read_commands, args=(0, control), name="commands", daemon=True).start()
    try:
        spec = WorkerSpec.from_json(Path(args[0]).read_text(encoding="utf-8"))
        validate_config(spec.config)
        data = load_data(spec)
        base = start_model(spec)
        if spec.rendezvous is not None:
            result = train_distributed(spec.config, data, Path(spec.checkpoint_path), control, events,
                                       spec.rendezvous, base).result  # fmt: skip
        else:
            result = train(spec.config, data, Path(spec.checkpoint_path), control, events, base)
    except WorkError as exc:
        events.log(f"error: {exc}")
        events.done("failed", str(exc))
        return 1
    events.done(result.state)
    return 0


if __name__ == "__main__":
    sys.exit(main())

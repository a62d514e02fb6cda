"""Holds one model's bytes in a CUDA device's memory for as long as it runs (a model on ``gpuN``).

    python -m agent.models.gpu_holder --model PATH --device cuda:N --ready-file FILE

A torch checkpoint is loaded onto the device (`torch.load(map_location=..., weights_only=True)`);
any other file goes there as one uint8 tensor. The bytes held are written to FILE (atomically)
once they are on the device; SIGTERM lets them go. Exit 2 with a message when the device is not
there or the file cannot be loaded. The agent runs one per model on a GPU (agent.models.gpu_holders).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from pathlib import Path


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--device", required=True)
    parser.add_argument("--ready-file", type=Path, required=True)
    args = parser.parse_args()
    import torch

    if not torch.cuda.is_available():
        print(f"gpu_holder: CUDA is not available here, so nothing can be held on {args.device}", file=sys.stderr)
        return 2
    index = int(args.device.partition(":")[2] or 0)
    if index >= torch.cuda.device_count():
        print(f"gpu_holder: {args.device} does not exist ({torch.cuda.device_count()} CUDA devices)", file=sys.stderr)
        return 2
    try:
        held = torch.load(args.model, map_location=args.device, weights_only=True)
    except Exception:  # noqa: BLE001 - not a checkpoint: its bytes as they are
        held = torch.frombuffer(bytearray(args.model.read_bytes()), dtype=torch.uint8).to(args.device)
    torch.cuda.synchronize(index)
    tmp = args.ready_file.with_suffix(".tmp")
    tmp.write_text(f"{torch.cuda.memory_allocated(index)}\n")
    os.replace(tmp, args.ready_file)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    done.wait()
    del held
    return 0


if __name__ == "__main__":
    sys.exit(main())

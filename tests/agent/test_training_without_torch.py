"""An agent installed without torch (it is the 'agent' extra) fails training tasks with a clear reason."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

SCRIPT = """
import asyncio, sys
from pathlib import Path
from tests.without_torch import TorchBlocker
sys.meta_path.insert(0, TorchBlocker())
from agent.runners.base import RunContext
from agent.runners.training import TrainingRunner
from aifarm.v1 import task_pb2

class Quiet:
    def log(self, *a): pass
    def progress(self, *a): pass
    def metric(self, *a): pass
    def paused(self, *a): pass

async def fetch(name):
    raise LookupError(name)

async def main():
    work = Path(sys.argv[1])
    spec = task_pb2.TrainingSpec(architecture="mlp", epochs=1, synthetic=task_pb2.SyntheticDataset(samples=8))
    outcome = await TrainingRunner(spec, RunContext("t", 1, work, 0, fetch), Quiet()).run()
    print(outcome.state.value, "|", outcome.error)
    assert not [m for m in sys.modules if m == "torch" or m.startswith("torch.")]

asyncio.run(main())
"""


def test_training_without_torch_fails_saying_how_to_install_it(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path)], cwd=REPO, capture_output=True, text=True,
                          timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr
    state, error = done.stdout.strip().splitlines()[-1].split(" | ")
    assert state == "failed" and "torch is not installed on this node" in error and "torch==2.13.0" in error

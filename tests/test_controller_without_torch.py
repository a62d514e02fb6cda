"""The controller runs without torch: its tests pass with torch unimportable, and its process never loads it.

Issue 9, item 4: the controller used to describe datasets with the trainer's
loader, so installing it meant installing torch, and every controller loaded
libtorch (most of its 267 MB idle RSS) at start to describe the built-in dataset.
"""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from google.api import httpbody_pb2

from aifarm.v1 import dataset_service_pb2
from farm_processes import Client, ControllerProcess

REPO = Path(__file__).resolve().parent.parent


def _pytest(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=600)  # fmt: skip


def test_every_controller_test_passes_with_torch_unimportable() -> None:
    done = _pytest("-p", "tests.without_torch", "tests/controller")
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]


def test_the_blocker_does_block(tmp_path: Path) -> None:
    """Without this, the run above could pass because the plugin did nothing."""
    (tmp_path / "test_uses_torch.py").write_text("def test_it():\n    import torch.nn\n")
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "tests.without_torch",
                           str(tmp_path)], cwd=REPO, capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode == 1 and "torch is blocked by tests.without_torch" in done.stdout, done.stdout[-3000:]


def test_importing_the_controller_loads_no_torch() -> None:
    script = (
        "import sys, controller.server, controller.domain.dataset_shape, cli.main\n"
        "print(sorted(m for m in sys.modules if m == 'torch' or m.startswith(('torch.', 'agent.training'))))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip() == "[]"


def _upload(client: Client, dataset_id: str, content: bytes) -> int:
    first = dataset_service_pb2.CreateDatasetRequest(dataset_id=dataset_id, content=httpbody_pb2.HttpBody(data=content))
    return client.datasets.CreateDataset(iter([first]), metadata=client.metadata, timeout=30).sample_count


def test_a_running_controller_describes_every_format_without_loading_libtorch(
    controller: ControllerProcess, client: Client
) -> None:
    torch = pytest.importorskip("torch")  # only to write the .pt; the controller process must not load it
    npz, pt = io.BytesIO(), io.BytesIO()
    np.savez_compressed(npz, x=np.zeros((6, 2, 3, 3), dtype=np.float32), y=np.arange(6) % 2)
    torch.save({"x": torch.zeros(5, 4), "y": torch.tensor([0, 1, 0, 1, 1])}, pt)
    assert _upload(client, "a.npz", npz.getvalue()) == 6
    assert _upload(client, "b.pt", pt.getvalue()) == 5
    assert _upload(client, "c.csv", b"f,label\n1,0\n2,1\n3,1\n") == 3
    assert controller.proc is not None
    maps = Path(f"/proc/{controller.proc.pid}/maps").read_text()
    torch_libraries = {line.split()[-1] for line in maps.splitlines() if "libtorch" in line or "/torch/" in line}
    assert not torch_libraries, f"the controller mapped {sorted(torch_libraries)[:5]}"

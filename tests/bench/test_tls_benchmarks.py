"""The benchmarks' TLS flags: both sides run in one invocation and the ratios are printed (tiny sizes)."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from farm_processes import REPO

pytestmark = pytest.mark.slow


def test_dispatch_runs_plaintext_and_tls_in_turn_and_prints_the_ratios() -> None:
    run = subprocess.run(
        [sys.executable, "bench/dispatch.py", "--agents", "2", "--tasks", "20", "--tls", "both", "--tls-rounds", "1",
         "--controller-log-level", "warning"],
        cwd=REPO, capture_output=True, text=True, timeout=240,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr
    out = run.stdout
    assert "round 1/1, plaintext" in out and "round 1/1, TLS" in out, out
    assert out.count("20 completed in the store") == 2, out
    assert re.search(r"throughput \(tasks/s\)\s+[\d.]+\s+[\d.]+\s+[\d.]+x", out), out


def test_rest_overhead_puts_each_tls_door_beside_its_plaintext_twin() -> None:
    run = subprocess.run(
        [sys.executable, "bench/rest_overhead.py", "--requests", "16", "--concurrency", "4", "--rounds", "1", "--tls"],
        cwd=REPO, capture_output=True, text=True, timeout=240,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr
    for door in ("gRPC direct", "Python gateway", "Envoy"):
        for call in ("GetTask", "ListTasks", "CreateTask"):
            row = rf"{call}\s+{door} \(TLS\)\s+[\d.]+\s+[\d.]+\s+\d+\s+[\d.]+x\s+[\d.]+x\s+[\d.]+x"
            assert re.search(row, run.stdout), run.stdout

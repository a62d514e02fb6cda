"""bench/dispatch.py compares trees side by side (--repo), batches where it can, and measures idle latency (tiny sizes)."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from farm_processes import REPO

pytestmark = pytest.mark.slow


def test_two_trees_in_turn_with_batches_idle_latency_and_the_ratios() -> None:
    run = subprocess.run(
        [sys.executable, "bench/dispatch.py", "--agents", "2", "--tasks", "20", "--idle", "3", "--batch-size", "7",
         "--repo", "one=.", "--repo", f"two={REPO}", "--controller-log-level", "warning"],
        cwd=REPO, capture_output=True, text=True, timeout=240,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr
    out = run.stdout
    assert "round 1/1, one" in out and "round 1/1, two" in out, out
    assert out.count("20 completed in the store") == 2 and out.count("BatchCreateTasks of 7") == 2, out
    assert out.count("(3 tasks one at a time)") == 2, out
    assert "(submit mode: one: batch; two: batch)" in out, out
    assert re.search(r"idle submit->running p99 \(ms\)\s+[\d.]+\s+[\d.]+\s+[\d.]+x", out), out


def test_single_creates_when_asked() -> None:
    run = subprocess.run(
        [sys.executable, "bench/dispatch.py", "--agents", "2", "--tasks", "10", "--submit", "single",
         "--controller-log-level", "warning"],
        cwd=REPO, capture_output=True, text=True, timeout=240,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr
    assert "CreateTask, 32 in flight" in run.stdout and "10 completed in the store" in run.stdout, run.stdout

"""bench/dispatch_under_load.py starts its farms, runs both ways and prints the comparison (tiny sizes)."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from farm_processes import REPO

pytestmark = pytest.mark.slow


def test_the_benchmark_runs_both_ways_and_prints_the_ratio() -> None:
    run = subprocess.run(
        [sys.executable, "bench/dispatch_under_load.py", "--agents", "2", "--tasks", "20", "--rest-clients", "3",
         "--rounds", "1", "--controller-log-level", "warning"],
        cwd=REPO, capture_output=True, text=True, timeout=240,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr
    out = run.stdout
    assert re.search(r"round 1, unloaded: [\d.]+ tasks/s", out), out
    assert re.search(r"round 1, with 3 REST clients: [\d.]+ tasks/s", out), out
    assert re.search(r"REST load: list \d+ .*; create \d+ .*; errors 0", out), out
    assert re.search(r"loaded / unloaded = [\d.]+ \((meets|misses) the target of 0\.80\)", out), out

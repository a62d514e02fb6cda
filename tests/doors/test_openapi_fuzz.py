"""schemathesis generates requests from /openapi.json of the core API: whatever it
sends, the gateway and the controller behind it must never answer 5xx."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import Farm, start_door
from farm_processes import API_KEY


@pytest.mark.slow
def test_no_generated_request_gets_a_server_error(farm: Farm, tmp_path: Path) -> None:
    cli = shutil.which("schemathesis") or pytest.fail("schemathesis is missing: pip install -e '.[test]'")
    gateway = start_door("gateway", tmp_path, farm.controller.address)
    try:
        run = subprocess.run(
            [cli, "run", f"{gateway.url}/openapi.json", "--checks", "not_a_server_error",
             "--header", f"Authorization: Bearer {API_KEY}", "--max-examples", "30",
             "--generation-deterministic", "--suppress-health-check", "filter_too_much", "--no-color"],
            capture_output=True, text=True, timeout=600, cwd=tmp_path,
        )  # fmt: skip
    finally:
        gateway.stop()
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
    # every operation of the spec was exercised, none skipped
    selected = re.search(r"Selected: (\d+)/(\d+)", run.stdout)
    tested = re.search(r"Tested: (\d+)", run.stdout)
    assert selected and tested and int(selected[2]) >= 15, run.stdout[-3000:]
    assert tested[1] == selected[1] == selected[2], run.stdout[-3000:]

"""Stubs in other languages against a real controller and agent: the Go and Node programs of clients/.

Each program creates a script task, watches it to completion over TaskService.WatchTask, and reads
NOT_FOUND with its google.rpc.ErrorInfo for an unknown task. They are built by
`bash scripts/build_clients.sh`; without that build these tests skip, except under CI=true, where a
missing toolchain fails them so that CI cannot pass by skipping.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess

import pytest

from aifarm.v1 import task_pb2
from farm_processes import API_KEY, REPO, Client, ControllerProcess, wait_for

BUILD_COMMAND = "bash scripts/build_clients.sh"
GO_BINARY = REPO / "clients/go/build/bin/aifarm-go-client"
NODE_PROGRAM = REPO / "clients/node/client.js"


def _unavailable(problem: str) -> None:
    reason = f"{problem}; build the clients with `{BUILD_COMMAND}`"
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI=true and {reason}", pytrace=False)
    pytest.skip(reason)


def _go_command() -> list[str]:
    if not GO_BINARY.exists():
        _unavailable(f"{GO_BINARY.relative_to(REPO)} is missing")
    built = GO_BINARY.stat().st_mtime
    sources = [*REPO.glob("proto/**/*.proto"), *REPO.glob("clients/go/*.go")]
    stale = sorted(str(p.relative_to(REPO)) for p in sources if p.stat().st_mtime > built)
    if stale:
        _unavailable(f"the Go client is older than {', '.join(stale)}")
    return [str(GO_BINARY)]


def _node_command() -> list[str]:
    node = shutil.which("node")
    if node is None:
        _unavailable("node is not on PATH")
    if not (REPO / "clients/node/node_modules/@grpc/grpc-js").is_dir():
        _unavailable("clients/node/node_modules is missing")
    return [node, str(NODE_PROGRAM)]


@pytest.fixture(params=["go", "node"])
def program(request: pytest.FixtureRequest) -> list[str]:
    """The client's command line; requested before the farm fixtures, so a skip starts no process."""
    return {"go": _go_command, "node": _node_command}[request.param]()


def test_client_creates_watches_and_reads_not_found(program: list[str], controller: ControllerProcess,
                                                    client: Client, start_agent) -> None:  # fmt: skip
    start_agent("agent")
    wait_for(lambda: len(client.online_nodes()) == 1, what="the agent to join")

    run = subprocess.run([*program, "--addr", controller.address, "--api-key", API_KEY, "--timeout", "60"],
                         capture_output=True, text=True, timeout=90)  # fmt: skip
    out = run.stdout
    assert run.returncode == 0, f"exit {run.returncode}\nstdout:\n{out}\nstderr:\n{run.stderr}"

    created = re.search(r"^created: (tasks/\S+) state=TASK_STATE_\w+$", out, re.M)
    assert created, out
    name = created.group(1)
    assert f"watch: {name} state=TASK_STATE_COMPLETED" in out
    assert f"completed: {name} exit_code=0" in out
    assert "not found: code=NOT_FOUND reason=TASK_NOT_FOUND domain=aifarm.dev" in out
    assert out.rstrip().endswith("ok")

    # The task the program made is real: the Python stubs see it finished on the agent.
    task = client.get(name)
    assert task.state == task_pb2.TASK_STATE_COMPLETED and task.result.exit_code == 0
    assert task.node.startswith("nodes/")


def test_client_exits_non_zero_on_a_wrong_key(program: list[str], controller: ControllerProcess) -> None:
    run = subprocess.run([*program, "--addr", controller.address, "--api-key", "wrong-key"],
                         capture_output=True, text=True, timeout=60)  # fmt: skip
    assert run.returncode != 0
    assert "FAIL create:" in run.stdout and "UNAUTHENTICATED" in run.stdout.upper()

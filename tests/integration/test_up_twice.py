"""`aifarm up` run twice: the second refuses to start, cleanly, and leaves the first alone.

Two farms on one data directory would share the database and the agent's node id; two
controllers on one gRPC port would split connections between them (gRPC turns SO_REUSEPORT
on); a second gateway on a busy REST port used to die with a traceback after deleting the
running farm's endpoints.json. Each test starts a real first farm, then a second `aifarm up`
that must exit non-zero with a message that names the holder and the flag to use, while the
first keeps answering REST and keeps its endpoints.json.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from farm_processes import REPO, Client, ControllerProcess, free_port, terminate, wait_for

KEY = "twice-key"
#: How long the second process may take to refuse; it must not come up and stay.
REFUSAL_SECONDS = 20


@dataclass
class Up:
    """One `aifarm up` process and the log it writes."""

    proc: subprocess.Popen[bytes]
    data_dir: Path
    log_path: Path

    @property
    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    @property
    def endpoints_file(self) -> Path:
        return self.data_dir / "endpoints.json"


def _spawn(log_path: Path, *args: str) -> subprocess.Popen[bytes]:
    """`aifarm ARGS...` with none of the developer's AIFARM_* / API_* settings."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    for name in ("API_KEYS", "AIFARM_DATA_DIR", "API_PORT", "API_HOST"):
        env.pop(name, None)
    with log_path.open("wb") as log:
        return subprocess.Popen([sys.executable, "-m", "cli.main", *args], cwd=REPO, stdout=log,
                                stderr=subprocess.STDOUT, env=env)  # fmt: skip


def _spawn_up(data_dir: Path, log_path: Path, *args: str) -> Up:
    # gswarm's host listener on a free port too: only what a test names is shared.
    proc = _spawn(log_path, "up", "--websocket-port", "0", "--http-port", "gswarm_host=0", "--http-port", "profiler=0", "--http-port", "aifactory=0",
                  "--gswarm-client-port", "0", "--profiler-grpc-port", "0", "--data-dir", str(data_dir),
                  "--api-keys", KEY, "--no-agent", *args)  # fmt: skip
    return Up(proc, data_dir, log_path)


def _serving(up: Up) -> dict:
    wait_for(lambda: up.endpoints_file.exists() or up.proc.poll() is not None, what="the first farm's endpoints.json")
    assert up.proc.poll() is None, f"the first farm did not start:\n{up.log}"
    return json.loads(up.endpoints_file.read_text())


def _refused(up: Up) -> str:
    """The second process's output, once it has exited non-zero; fails if it stays up."""
    try:
        code = up.proc.wait(timeout=REFUSAL_SECONDS)
    except subprocess.TimeoutExpired:
        terminate(up.proc)
        pytest.fail(f"the second `aifarm up` came up beside the first instead of refusing:\n{up.log}")
    out = up.log
    assert code != 0, out
    assert "Traceback" not in out, out
    return out


def _still_serving(first: Up, endpoints: dict) -> None:
    assert first.proc.poll() is None, f"the first farm died:\n{first.log}"
    assert json.loads(first.endpoints_file.read_text()) == endpoints, "the first farm's endpoints.json changed"
    reply = requests.get(f"{endpoints['http']['main']}/v1/tasks", headers={"X-API-Key": KEY}, timeout=10)
    assert reply.status_code == 200, reply.text


@pytest.fixture
def started() -> Iterator[list[Up]]:
    procs: list[Up] = []
    yield procs
    for up in reversed(procs):
        terminate(up.proc)


def test_second_up_in_the_same_data_dir_is_refused(tmp_path: Path, started: list[Up]) -> None:
    data_dir = tmp_path / "farm"
    first = _spawn_up(data_dir, tmp_path / "first.log", "--grpc-port", "0", "--http-port", "main=0")
    started.append(first)
    endpoints = _serving(first)
    # Free ports of its own: only the data directory is shared.
    second = _spawn_up(data_dir, tmp_path / "second.log", "--grpc-port", "0", "--http-port", "main=0")
    started.append(second)
    out = _refused(second)
    assert str(data_dir) in out and str(first.proc.pid) in out and "--data-dir" in out, out
    _still_serving(first, endpoints)


def test_second_up_on_the_same_grpc_port_is_refused(tmp_path: Path, started: list[Up]) -> None:
    port = free_port()
    first = _spawn_up(tmp_path / "one", tmp_path / "first.log", "--grpc-port", str(port), "--http-port", "main=0")
    started.append(first)
    endpoints = _serving(first)
    second = _spawn_up(tmp_path / "two", tmp_path / "second.log", "--grpc-port", str(port), "--http-port", "main=0")
    started.append(second)
    out = _refused(second)
    assert str(port) in out and str(first.proc.pid) in out and "--grpc-port" in out, out
    _still_serving(first, endpoints)
    assert not (tmp_path / "two" / "endpoints.json").exists()


def test_second_up_on_the_same_rest_port_is_refused(tmp_path: Path, started: list[Up]) -> None:
    port = free_port()
    first = _spawn_up(tmp_path / "one", tmp_path / "first.log", "--grpc-port", "0", "--port", str(port))
    started.append(first)
    endpoints = _serving(first)
    second = _spawn_up(tmp_path / "two", tmp_path / "second.log", "--grpc-port", "0", "--port", str(port))
    started.append(second)
    out = _refused(second)
    assert str(port) in out and str(first.proc.pid) in out and "--port" in out, out
    _still_serving(first, endpoints)
    assert not (tmp_path / "two" / "endpoints.json").exists()


def test_second_up_with_the_same_data_dir_and_ports_names_the_data_dir(tmp_path: Path, started: list[Up]) -> None:
    """Both clash: the data directory is the real problem, so that is what the message says."""
    data_dir, grpc_port, http_port = tmp_path / "farm", free_port(), free_port()
    ports = ("--grpc-port", str(grpc_port), "--port", str(http_port))
    first = _spawn_up(data_dir, tmp_path / "first.log", *ports)
    started.append(first)
    endpoints = _serving(first)
    second = _spawn_up(data_dir, tmp_path / "second.log", *ports)
    started.append(second)
    out = _refused(second)
    assert "--data-dir" in out and str(first.proc.pid) in out, out
    _still_serving(first, endpoints)


def test_second_controller_in_the_same_data_dir_is_refused(tmp_path: Path, started: list[Up]) -> None:
    first = ControllerProcess(tmp_path / "farm", free_port()).start()
    try:
        endpoints = first.endpoints()
        second = Up(_spawn(tmp_path / "second.log", "controller", "--data-dir", str(first.data_dir), "--grpc-port", "0",
                           "--profiler-grpc-port", "0"),
                    first.data_dir, tmp_path / "second.log")  # fmt: skip
        started.append(second)
        out = _refused(second)
        assert str(first.proc.pid) in out and "--data-dir" in out, out
        assert first.endpoints() == endpoints
        client = Client(first.address)
        try:
            assert client.health().status == "healthy"
        finally:
            client.close()
    finally:
        first.kill()


def test_gateway_on_a_busy_port_is_refused(tmp_path: Path, started: list[Up]) -> None:
    port = free_port()
    first = _spawn_up(tmp_path / "farm", tmp_path / "first.log", "--grpc-port", "0", "--port", str(port))
    started.append(first)
    endpoints = _serving(first)
    log_path = tmp_path / "gateway.log"
    second = Up(_spawn(log_path, "gateway", "--controller", endpoints["grpc"], "--http-port", f"main={port}",
                       "--http-port", "gswarm_host=0", "--http-port", "profiler=0", "--http-port", "aifactory=0"),
                first.data_dir, log_path)  # fmt: skip
    started.append(second)
    out = _refused(second)
    assert str(port) in out and str(first.proc.pid) in out and "--http-port main=PORT" in out, out
    _still_serving(first, endpoints)


def test_a_farm_killed_outright_leaves_a_lock_the_next_one_takes_over(tmp_path: Path, started: list[Up]) -> None:
    """SIGKILL leaves the lock file (and endpoints.json) behind; the kernel has dropped the lock itself."""
    data_dir = tmp_path / "farm"
    first = _spawn_up(data_dir, tmp_path / "first.log", "--grpc-port", "0", "--http-port", "main=0")
    started.append(first)
    _serving(first)
    first.proc.send_signal(signal.SIGKILL)
    first.proc.wait(timeout=15)
    assert (data_dir / "lock").read_text().split() == [str(first.proc.pid)]

    first.endpoints_file.unlink()  # so that the wait below sees the new farm's file
    second = _spawn_up(data_dir, tmp_path / "second.log", "--grpc-port", "0", "--http-port", "main=0")
    started.append(second)
    endpoints = _serving(second)
    _still_serving(second, endpoints)
    assert (data_dir / "lock").read_text().split() == [str(second.proc.pid)]
    second.proc.send_signal(signal.SIGINT)
    assert second.proc.wait(timeout=20) == 0, second.log
    assert not (data_dir / "lock").exists() and not second.endpoints_file.exists()

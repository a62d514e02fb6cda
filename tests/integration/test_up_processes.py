"""`aifarm up` as processes: the controller, N gateway workers on one REST port, the agent.

Each test starts a real `aifarm up` and looks at its real children (psutil): which processes
run, what they map, who holds the REST connections, and what is left when the farm stops, is
killed outright, or loses a part.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import psutil
import pytest

from farm_processes import REPO, terminate, wait_for

KEY = "procs-key"


@dataclass
class Farm:
    proc: subprocess.Popen[bytes]
    data_dir: Path
    log_path: Path

    @property
    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    @property
    def endpoints_file(self) -> Path:
        return self.data_dir / "endpoints.json"

    def parts(self) -> dict[str, psutil.Process]:
        """Part name (controller, gateway-1, ..., agent) -> its process."""
        found = {}
        for child in psutil.Process(self.proc.pid).children():
            argv = child.cmdline()
            if "cli.part_process" in argv:
                found[argv[argv.index("cli.part_process") + 1]] = child
        return found


def _start(tmp_path: Path, *args: str) -> Farm:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    for name in ("API_KEYS", "AIFARM_DATA_DIR", "API_PORT", "API_HOST"):
        env.pop(name, None)
    data_dir, log_path = tmp_path / "farm", tmp_path / "up.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "cli.main", "up", "--data-dir", str(data_dir), "--websocket-port", "0", "--grpc-port", "0", "--profiler-grpc-port", "0",
             "--http-port", "main=0", "--http-port", "gswarm_host=0", "--http-port", "profiler=0", "--http-port", "aifactory=0", "--gswarm-client-port", "0", "--api-keys", KEY, "--heartbeat-interval", "0.3", *args],
            cwd=REPO, stdout=log, stderr=subprocess.STDOUT, env=env,
        )  # fmt: skip
    return Farm(proc, data_dir, log_path)


def _serving(farm: Farm) -> dict:
    wait_for(lambda: farm.endpoints_file.exists() or farm.proc.poll() is not None, what="endpoints.json")
    assert farm.proc.poll() is None, f"the farm did not start:\n{farm.log}"
    return json.loads(farm.endpoints_file.read_text())


@pytest.fixture
def started() -> Iterator[list[Farm]]:
    farms: list[Farm] = []
    yield farms
    for farm in farms:
        terminate(farm.proc)


def _mapped(process: psutil.Process) -> str:
    return "\n".join(m.path for m in process.memory_maps())


def _all_gone(processes: list[psutil.Process], timeout: float = 15) -> list[psutil.Process]:
    _, alive = psutil.wait_procs(processes, timeout=timeout)
    return alive


def test_up_runs_each_part_in_its_own_process_and_the_workers_share_the_rest_port(
    tmp_path: Path, started: list[Farm]
) -> None:
    farm = _start(tmp_path, "--gateway-workers", "2")
    started.append(farm)
    endpoints = _serving(farm)
    parts = farm.parts()
    assert sorted(parts) == ["agent", "controller", "gateway-1", "gateway-2"], farm.log
    assert len({p.pid for p in parts.values()} | {farm.proc.pid}) == 5

    # Each process loads only its own part: no torch in the controller; the agent's long-running
    # process has neither torch nor numpy nor PIL (its training children do), nor the TLS library.
    for name, libraries in (("controller", ("torch", "aiohttp")), ("agent", ("torch", "numpy", "PIL", "cryptography")),
                            ("gateway-1", ("torch", "numpy"))):  # fmt: skip
        mapped = _mapped(parts[name])
        for library in libraries:
            assert f"/{library}/" not in mapped and f"/{library}." not in mapped, f"{name} maps {library}"

    # Keep-alive connections are spread over both workers (SO_REUSEPORT: each its own queue).
    url = urlsplit(endpoints["http"]["main"])
    connections = [http.client.HTTPConnection(url.hostname, url.port, timeout=10) for _ in range(16)]
    try:
        for conn in connections:
            conn.request("GET", "/health")
            reply = conn.getresponse()
            assert reply.status == 200 and json.loads(reply.read())["status"] == "healthy"
        holders = {
            name
            for name in ("gateway-1", "gateway-2")
            for c in parts[name].net_connections(kind="tcp")
            if c.status == psutil.CONN_ESTABLISHED and c.laddr.port == url.port
        }
        assert holders == {"gateway-1", "gateway-2"}, holders
    finally:
        for conn in connections:
            conn.close()

    farm.proc.send_signal(signal.SIGTERM)
    assert farm.proc.wait(timeout=30) == 0, farm.log
    assert not _all_gone(list(parts.values()), timeout=5)
    assert not farm.endpoints_file.exists(), "endpoints.json outlived the farm"
    assert not (farm.data_dir / "lock").exists(), "the data directory's lock outlived the farm"
    assert "Traceback" not in farm.log, farm.log


def test_gateway_workers_default_to_one_per_core(tmp_path: Path, started: list[Farm]) -> None:
    farm = _start(tmp_path, "--no-agent")
    started.append(farm)
    _serving(farm)
    workers = sorted(name for name in farm.parts() if name.startswith("gateway-"))
    assert workers == [f"gateway-{n}" for n in range(1, len(os.sched_getaffinity(0)) + 1)]


def test_up_killed_outright_leaves_no_part_running(tmp_path: Path, started: list[Farm]) -> None:
    farm = _start(tmp_path, "--gateway-workers", "2")
    started.append(farm)
    _serving(farm)
    assert len(farm.parts()) == 4
    everything = psutil.Process(farm.proc.pid).children(recursive=True)  # the parts and what they started
    farm.proc.send_signal(signal.SIGKILL)
    farm.proc.wait(timeout=15)
    alive = _all_gone(everything)
    assert not alive, f"orphans: {[p.cmdline() for p in alive]}"


@pytest.mark.parametrize(("part", "sig", "how"), [
    ("gateway-2", signal.SIGKILL, "gateway worker 2 (pid {pid}) killed by signal SIGKILL (9) while the farm was up"),
    ("agent", signal.SIGTERM, "the agent (pid {pid}) exited with code 0 while the farm was up"),
    ("controller", signal.SIGKILL, "the controller (pid {pid}) killed by signal SIGKILL (9) while the farm was up"),
], ids=["gateway worker killed", "agent stopped", "controller killed"])  # fmt: skip
def test_a_part_that_ends_stops_the_farm_and_says_which_and_how(
    tmp_path: Path, started: list[Farm], part: str, sig: int, how: str
) -> None:
    farm = _start(tmp_path, "--gateway-workers", "2")
    started.append(farm)
    _serving(farm)
    parts = farm.parts()
    victim = parts.pop(part)
    victim.send_signal(sig)
    assert farm.proc.wait(timeout=40) == 1, farm.log
    assert how.format(pid=victim.pid) in farm.log, farm.log
    assert not _all_gone(list(parts.values()), timeout=5)
    assert not farm.endpoints_file.exists(), "endpoints.json outlived the farm"
    assert not (farm.data_dir / "lock").exists(), "the data directory's lock outlived the farm"


def test_a_part_that_cannot_start_stops_the_farm_before_it_is_up(tmp_path: Path, started: list[Farm]) -> None:
    (tmp_path / "farm").mkdir(mode=0o700)
    (tmp_path / "farm" / "aifarm.db").write_bytes(b"not a database" * 100)
    farm = _start(tmp_path)
    started.append(farm)
    assert farm.proc.wait(timeout=40) == 1, farm.log
    assert "the controller (pid " in farm.log and "before it served; stopping the farm" in farm.log, farm.log
    assert "aifarm is up" not in farm.log
    assert not farm.endpoints_file.exists() and not (farm.data_dir / "lock").exists()


def test_gateway_workers_must_be_at_least_one(tmp_path: Path) -> None:
    refused = subprocess.run([sys.executable, "-m", "cli.main", "up", "--gateway-workers", "0", "--data-dir",
                              str(tmp_path / "farm")], cwd=REPO, capture_output=True, text=True)  # fmt: skip
    assert refused.returncode == 2 and "--gateway-workers" in refused.stderr, refused.stderr
    assert not (tmp_path / "farm").exists()


def test_cpu_slots_reach_the_local_agent(tmp_path: Path, started: list[Farm]) -> None:
    farm = _start(tmp_path, "--gateway-workers", "1", "--cpu-slots", "7")
    started.append(farm)
    url = urlsplit(_serving(farm)["http"]["main"])

    def nodes() -> list[dict]:
        conn = http.client.HTTPConnection(url.hostname, url.port, timeout=10)
        try:
            conn.request("GET", "/v1/nodes", headers={"X-API-Key": KEY})
            return json.loads(conn.getresponse().read()).get("nodes", [])
        finally:
            conn.close()

    wait_for(lambda: nodes(), what="the local agent's node")
    assert [n["capabilities"]["cpu_cores"] for n in nodes()] == [7], farm.log

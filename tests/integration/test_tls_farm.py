"""TLS end to end with real processes: `aifarm up --tls`, an agent, the CLI, the gateway, the file modes.

Every certificate is one the farm's own CA issued at start; nothing is mocked.
"""

from __future__ import annotations

import json
import os
import signal
import ssl
import stat
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import requests

from aifarm.v1 import task_pb2 as T
from farm_processes import (
    AGENT_TOKEN,
    API_KEY,
    REPO,
    AgentProcess,
    Client,
    ControllerProcess,
    GatewayProcess,
    free_port,
    script_task,
    terminate,
    wait_for,
)

pytestmark = pytest.mark.slow


def aifarm(*args: str, cwd: Path = REPO, env: dict[str, str] | None = None,
           timeout: float = 60) -> subprocess.CompletedProcess[str]:  # fmt: skip
    """`aifarm ...` as a process, with no AIFARM_* of the developer's shell."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("AIFARM_") and k != "API_KEYS"}
    return subprocess.run([sys.executable, "-m", "cli.main", *args], cwd=cwd, env={**base, **(env or {})},
                          capture_output=True, text=True, timeout=timeout)  # fmt: skip


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def assert_private(data_dir: Path) -> None:
    """The data directory 0700; the database, its WAL and shared memory, keys and certificates 0600."""
    assert mode(data_dir) == 0o700
    for name in ("aifarm.db", "aifarm.db-wal", "aifarm.db-shm", "api_keys", "agent_token"):
        assert mode(data_dir / name) == 0o600, name
    assert mode(data_dir / "pki") == 0o700
    assert {p.name: mode(p) for p in (data_dir / "pki").iterdir()} == {
        "ca.key": 0o600, "ca.crt": 0o600, "server.crt": 0o600, "server.key": 0o600}  # fmt: skip


def test_up_with_tls_serves_grpc_and_rest_over_tls_and_the_cli_works(tmp_path: Path) -> None:
    data_dir = tmp_path / "farm"
    log = (tmp_path / "up.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "cli.main", "up", "--tls", "--data-dir", str(data_dir), "--websocket-port", "0", "--grpc-port", "0", "--profiler-grpc-port", "0",
         "--agent-port", "0", "--http-port", "main=0", "--http-port", "gswarm_host=0", "--http-port", "profiler=0", "--http-port", "aifactory=0", "--gswarm-client-port", "0", "--api-keys", "up-key", "--heartbeat-interval", "0.3"],
        cwd=REPO, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        endpoints_file = data_dir / "endpoints.json"
        wait_for(lambda: endpoints_file.exists() or proc.poll() is not None, what="endpoints.json")
        endpoints = json.loads(endpoints_file.read_text())
        ca_file = Path(endpoints["ca_file"])
        assert endpoints["tls"] is True and ca_file == data_dir / "pki" / "ca.crt"
        assert endpoints["http"]["main"].startswith("https://127.0.0.1:")
        assert endpoints["grpc_agents"].startswith("127.0.0.1:")

        # gRPC: the local agent came up over TLS; a client with the CA and the key gets in.
        client = Client(endpoints["grpc"], key="up-key", ca_file=ca_file)
        try:
            nodes = wait_for(client.online_nodes, what="the local agent online over TLS")
            assert nodes[0].name == f"nodes/{endpoints['agents'][0]['node_id']}"
        finally:
            client.close()

        # The CLI finds address, key and CA in the data directory.
        listed = aifarm("nodes", "--json", "--data-dir", str(data_dir))
        assert listed.returncode == 0, listed.stderr
        assert [n["name"] for n in json.loads(listed.stdout)] == [nodes[0].name]
        done = aifarm("submit", "script", str(REPO / "examples" / "hello.py"), "--follow", "--data-dir", str(data_dir))
        assert done.returncode == 0, done.stdout + done.stderr
        # Named elsewhere, the controller needs the CA named too: without it the call fails and says why.
        named = ["--controller", endpoints["grpc"], "--api-key", "up-key"]
        no_ca = aifarm("tasks", *named, cwd=tmp_path)
        assert no_ca.returncode == 1 and "--ca-file" in no_ca.stderr, no_ca.stderr
        with_ca = aifarm("tasks", "--json", *named, "--ca-file", str(ca_file), cwd=tmp_path)
        assert with_ca.returncode == 0, with_ca.stderr
        from_env = aifarm("tasks", "--json", *named, cwd=tmp_path, env={"AIFARM_CA_FILE": str(ca_file)})
        assert from_env.returncode == 0 and json.loads(from_env.stdout) == json.loads(with_ca.stdout)

        # REST over HTTPS, verified against the farm CA; not trusted without it; no plain HTTP beside it.
        rest = endpoints["http"]["main"]
        created = requests.post(f"{rest}/v1/tasks", json={"script": {"source": "print('tls')"}},
                                headers={"X-API-Key": "up-key"}, timeout=10, verify=str(ca_file))  # fmt: skip
        assert created.status_code == 201, created.text
        with pytest.raises(requests.exceptions.SSLError):
            requests.get(f"{rest}/v1/health", timeout=10)
        with pytest.raises(requests.exceptions.ConnectionError):
            requests.get(rest.replace("https://", "http://") + "/v1/health", timeout=10)

        assert_private(data_dir)
        assert mode(data_dir / "agent") == 0o700

        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=20) == 0
    finally:
        terminate(proc)
        log.close()


def test_an_agent_joins_over_tls_only_with_the_ca_and_a_token_from_a_file(tmp_path: Path) -> None:
    agent_port = free_port()
    controller = ControllerProcess(tmp_path / "controller", free_port(),
                                   extra=["--tls", "--agent-port", str(agent_port)]).start()  # fmt: skip
    client = Client(controller.address, ca_file=controller.ca_file)
    agents: list[AgentProcess] = []
    try:
        token_file = tmp_path / "token"
        token_file.write_text(AGENT_TOKEN + "\n")
        token_file.chmod(0o600)
        blind = AgentProcess(controller.address, tmp_path / "blind").start()  # no --ca-file: plaintext, refused
        # It registers a CSR on the gRPC port, then connects with its certificate to the mutual-TLS port.
        good = AgentProcess(controller.address, tmp_path / "good", ["--ca-file", str(controller.ca_file),
                                                                    "--token-file", str(token_file),
                                                                    "--agent-port", str(agent_port)]).start()  # fmt: skip
        agents += [blind, good]
        online = wait_for(client.online_nodes, what="the agent with the CA online")
        assert [n.name for n in online] == [f"nodes/{good.node_id}"]
        task = client.create(script_task("print('over tls')"))
        assert client.wait_state(task.name, T.TASK_STATE_COMPLETED).node == f"nodes/{good.node_id}"
        assert [n.name for n in client.online_nodes()] == [f"nodes/{good.node_id}"]
        assert blind.proc is not None and blind.proc.poll() is None  # still trying, never admitted
        assert mode(tmp_path / "good") == 0o700
        assert mode(tmp_path / "good" / "node.key") == 0o600 and (tmp_path / "good" / "node.crt").exists()
        assert_private(controller.data_dir)
        # The token is nowhere on the agent's command line.
        assert good.proc is not None
        with open(f"/proc/{good.proc.pid}/cmdline", "rb") as f:
            assert AGENT_TOKEN.encode() not in f.read()
    finally:
        for agent in agents:
            agent.stop()
        client.close()
        controller.kill()


def test_the_agent_takes_its_token_only_from_a_file_or_the_environment(tmp_path: Path) -> None:
    none = aifarm("agent", "--controller", "127.0.0.1:1", "--data-dir", str(tmp_path / "a"))
    assert none.returncode == 2 and "--token-file FILE or env AIFARM_AGENT_TOKEN" in none.stderr
    argv = aifarm("agent", "--controller", "127.0.0.1:1", "--token", "secret", "--data-dir", str(tmp_path / "a"))
    assert argv.returncode == 2 and "No such option '--token'" in argv.stderr
    empty = tmp_path / "empty"
    empty.write_text("\n")
    blank = aifarm("agent", "--controller", "127.0.0.1:1", "--token-file", str(empty), "--data-dir", str(tmp_path / "a"))
    assert blank.returncode == 2 and "is empty" in blank.stderr


def test_the_gateway_serves_https_and_speaks_tls_to_the_controller(tmp_path: Path) -> None:
    controller = ControllerProcess(tmp_path / "controller", free_port(),
                                   extra=["--tls", "--agent-port", str(free_port())]).start()  # fmt: skip
    pki = controller.data_dir / "pki"
    gateway = GatewayProcess(controller.address, tmp_path / "gateway.log", ca_file=controller.ca_file, extra=[
        "--controller-ca", str(controller.ca_file), "--tls-cert", str(pki / "server.crt"),
        "--tls-key", str(pki / "server.key")])  # fmt: skip
    try:
        gateway.start()
        headers = {"Authorization": f"Bearer {API_KEY}"}
        created = requests.post(f"{gateway.url}/v1/tasks", json={"script": {"source": "print(1)"}},
                                headers=headers, timeout=10, verify=str(controller.ca_file))  # fmt: skip
        assert created.status_code == 201, created.text
        got = requests.get(f"{gateway.url}/v1/{created.json()['name']}", headers=headers, timeout=10,
                           verify=str(controller.ca_file))  # fmt: skip
        assert got.status_code == 200 and got.json()["name"] == created.json()["name"]
        context = ssl.create_default_context()  # the system's CAs only: the farm's certificate is not trusted
        with pytest.raises(urllib.error.URLError, match="CERTIFICATE_VERIFY_FAILED"):
            urllib.request.urlopen(f"{gateway.url}/v1/health", timeout=5, context=context)
    finally:
        gateway.stop()

    # A gateway that does not trust the controller's CA gets no answer from it: 503, not a plaintext fallback.
    blind = GatewayProcess(controller.address, tmp_path / "blind.log")
    try:
        blind.start()
        answer = requests.get(f"{blind.url}/v1/tasks", headers={"X-API-Key": API_KEY}, timeout=30)
        assert answer.status_code == 503, answer.text
    finally:
        blind.stop()
        controller.kill()


@pytest.mark.parametrize("command", [
    ["controller", "--grpc-port", "0", "--profiler-grpc-port", "0"],
    ["up", "--grpc-port", "0", "--profiler-grpc-port", "0", "--http-port", "main=0", "--http-port", "gswarm_host=0", "--http-port", "profiler=0", "--http-port", "aifactory=0", "--websocket-port", "0", "--no-agent"],
    ["gateway", "--controller", "127.0.0.1:1", "--http-port", "main=0", "--http-port", "gswarm_host=0", "--http-port", "profiler=0", "--http-port", "aifactory=0"],
], ids=["controller", "up", "gateway"])  # fmt: skip
def test_a_non_loopback_address_without_tls_is_refused_unless_insecure(tmp_path: Path, command: list[str]) -> None:
    data = [] if command[0] == "gateway" else ["--data-dir", str(tmp_path / "data"), "--api-keys", "k"]
    refused = aifarm(*command, "--host", "0.0.0.0", *data)
    assert refused.returncode == 2, refused.stderr
    assert "without TLS" in refused.stderr and "--insecure" in refused.stderr
    assert not (tmp_path / "data").exists()

    log = (tmp_path / "insecure.log").open("wb")
    proc = subprocess.Popen([sys.executable, "-m", "cli.main", *command, "--host", "0.0.0.0", "--insecure", *data],
                            cwd=REPO, stdout=log, stderr=subprocess.STDOUT)  # fmt: skip
    try:
        wait_for(lambda: "NO TLS (--insecure)" in (tmp_path / "insecure.log").read_text() or proc.poll() is not None,
                 what="the loud warning")  # fmt: skip
        assert proc.poll() is None, (tmp_path / "insecure.log").read_text()
    finally:
        terminate(proc)
        log.close()

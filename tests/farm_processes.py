"""Real aifarm processes for tests: a controller and agents on 127.0.0.1 with free ports.

TLS: start the controller with ``extra=["--tls", "--agent-port", str(free_port())]``; its
``ca_file`` is then what the agents (``--ca-file``), `Client` (``ca_file=``) and a
`GatewayProcess` (``ca_file=``, with ``--controller-ca`` and ``--tls-cert``/``--tls-key``) trust.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, TypeVar

import grpc

from aifarm.v1 import (
    dataset_service_pb2_grpc,
    node_service_pb2,
    node_service_pb2_grpc,
    system_service_pb2,
    system_service_pb2_grpc,
    task_pb2,
    task_service_pb2,
    task_service_pb2_grpc,
)

API_KEY = "test-api-key"
AGENT_TOKEN = "test-agent-token"
REPO = Path(__file__).resolve().parent.parent

T = TypeVar("T")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate: Callable[[], T], timeout: float = 30.0, interval: float = 0.1, what: str = "condition") -> T:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


def terminate(proc: subprocess.Popen[bytes] | None) -> None:
    """SIGTERM, then SIGKILL after 15 s; safe on a process that has already ended."""
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=15)


def _spawn(args: list[str], log_path: Path, env_extra: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env_extra or {})}
    env.pop("API_KEYS", None)
    out = log_path.open("ab")
    return subprocess.Popen([sys.executable, "-m", "cli.main", *args], stdout=out, stderr=subprocess.STDOUT,
                            cwd=REPO, env=env)  # fmt: skip


@dataclass
class ControllerProcess:
    data_dir: Path
    port: int
    extra: list[str] = field(default_factory=list)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def log(self) -> str:
        path = self.data_dir.parent / f"{self.data_dir.name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def start(self) -> ControllerProcess:
        (self.data_dir / "endpoints.json").unlink(missing_ok=True)
        self.proc = _spawn(
            ["controller", "--data-dir", str(self.data_dir), "--grpc-port", str(self.port), "--api-keys", API_KEY,
             "--agent-token", AGENT_TOKEN, "--heartbeat-interval", "0.3", "--node-ttl", "2.5",
             "--restart-grace", "4", *self._profiler_port(), *self.extra],
            self.data_dir.parent / f"{self.data_dir.name}.log",
        )  # fmt: skip
        wait_for(lambda: (self.data_dir / "endpoints.json").exists() or self.proc.poll() is not None,
                 what="the controller to start")  # fmt: skip
        if self.proc.poll() is not None:
            raise RuntimeError(f"controller exited at start:\n{self.log}")
        return self

    def _profiler_port(self) -> list[str]:
        """Tests share the machine: gswarm's profiler gRPC port on a free port unless a test says otherwise."""
        return [] if "--profiler-grpc-port" in self.extra else ["--profiler-grpc-port", "0"]

    @property
    def profiler_address(self) -> str:
        """HOST:PORT of gswarm's profiler gRPC port (from endpoints.json), once serving."""
        path = self.data_dir / "endpoints.json"
        return wait_for(lambda: path.exists() and json.loads(path.read_text()).get("grpc_profiler"),
                        what="the profiler gRPC port in endpoints.json")  # fmt: skip

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(timeout=15)

    def endpoints(self) -> dict:
        return json.loads((self.data_dir / "endpoints.json").read_text())

    @property
    def ca_file(self) -> Path:
        """The farm CA's certificate (with --tls)."""
        return self.data_dir / "pki" / "ca.crt"


@dataclass
class AgentProcess:
    controller: str
    data_dir: Path
    extra: list[str] = field(default_factory=list)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def node_id(self) -> str:
        return wait_for(lambda: (self.data_dir / "node_id").exists() and (self.data_dir / "node_id").read_text().strip(),
                        what="the agent's node id")  # fmt: skip

    @property
    def log(self) -> str:
        path = self.data_dir.parent / f"{self.data_dir.name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def start(self) -> AgentProcess:
        # The join token from the environment, never from argv (where `ps` shows it).
        self.proc = _spawn(
            ["agent", "--controller", self.controller, "--data-dir", str(self.data_dir), *self._local_api(), *self.extra],
            self.data_dir.parent / f"{self.data_dir.name}.log", {"AIFARM_AGENT_TOKEN": AGENT_TOKEN},
        )  # fmt: skip
        return self

    def _local_api(self) -> list[str]:
        """Tests share the machine: the node-local API on free loopback ports unless a test says otherwise."""
        return [] if "--gswarm-client-port" in self.extra else ["--gswarm-client-port", "0", "--listen-host", "127.0.0.1"]

    @property
    def gswarm_url(self) -> str:
        """The agent's gswarm client API (from its endpoints.json), once it listens."""
        path = self.data_dir / "endpoints.json"
        return wait_for(lambda: path.exists() and json.loads(path.read_text())["http"].get("gswarm_client"),
                        what="the agent's gswarm client API")  # fmt: skip

    @property
    def local_grpc(self) -> str:
        """HOST:PORT of the agent's node-local gRPC server (from its endpoints.json)."""
        self.gswarm_url  # noqa: B018 - waits for the file
        return json.loads((self.data_dir / "endpoints.json").read_text())["grpc"]

    def signal(self, sig: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)  # a SIGSTOPped agent could not act on SIGTERM
        terminate(self.proc)


class Client:
    """Stubs with the API key attached; over TLS when given the CA's file."""

    def __init__(self, address: str, key: str = API_KEY, ca_file: Path | None = None) -> None:
        if ca_file is None:
            self.channel = grpc.insecure_channel(address)
        else:
            self.channel = grpc.secure_channel(address, grpc.ssl_channel_credentials(ca_file.read_bytes()))
        self.metadata = (("authorization", f"Bearer {key}"),)
        self.tasks = task_service_pb2_grpc.TaskServiceStub(self.channel)
        self.nodes = node_service_pb2_grpc.NodeServiceStub(self.channel)
        self.datasets = dataset_service_pb2_grpc.DatasetServiceStub(self.channel)
        self.system = system_service_pb2_grpc.SystemServiceStub(self.channel)

    def create(self, task: task_pb2.Task, **kw: str) -> task_pb2.Task:
        return self.tasks.CreateTask(task_service_pb2.CreateTaskRequest(task=task, **kw), metadata=self.metadata,
                                     timeout=10)  # fmt: skip

    def get(self, name: str) -> task_pb2.Task:
        return self.tasks.GetTask(task_service_pb2.GetTaskRequest(name=name), metadata=self.metadata, timeout=10)

    def logs(self, name: str) -> list[task_pb2.LogLine]:
        req = task_service_pb2.ListTaskLogsRequest(parent=name, page_size=10000)
        return list(self.tasks.ListTaskLogs(req, metadata=self.metadata, timeout=10).lines)

    def online_nodes(self) -> list:
        req = node_service_pb2.ListNodesRequest(state=1)
        return list(self.nodes.ListNodes(req, metadata=self.metadata, timeout=10).nodes)

    def wait_state(self, name: str, *states: int, timeout: float = 60.0) -> task_pb2.Task:
        labels = "/".join(task_pb2.TaskState.Name(s) for s in states)
        return wait_for(lambda: (t := self.get(name)).state in states and t, timeout=timeout,
                        what=f"{name} to be {labels}")  # fmt: skip

    def health(self) -> system_service_pb2.Health:
        return self.system.GetHealth(system_service_pb2.GetHealthRequest(), timeout=10)

    def close(self) -> None:
        self.channel.close()


def script_task(source: str, *, name: str = "", **kw: object) -> task_pb2.Task:
    return task_pb2.Task(display_name=name, script=task_pb2.ScriptSpec(source=source, entrypoint="main.py"), **kw)


@dataclass
class GatewayProcess:
    """`aifarm gateway` in front of a controller, serving the 'main', 'gswarm_host', 'profiler' and 'aifactory' REST listeners."""

    controller: str
    log_path: Path
    port: int = field(default_factory=free_port)
    gswarm_port: int = field(default_factory=free_port)
    #: gswarm's profiler HTTP API (the profiler listener).
    profiler_port: int = field(default_factory=free_port)
    #: AI Factory's client service (the aifactory listener).
    aifactory_port: int = field(default_factory=free_port)
    extra: list[str] = field(default_factory=list)
    #: The CA that signed the certificate the gateway serves (its extra has --tls-cert/--tls-key): HTTPS.
    ca_file: Path | None = None
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"{'https' if self.ca_file else 'http'}://127.0.0.1:{self.port}"

    @property
    def gswarm_url(self) -> str:
        return self.url.rsplit(":", 1)[0] + f":{self.gswarm_port}"

    @property
    def profiler_url(self) -> str:
        return self.url.rsplit(":", 1)[0] + f":{self.profiler_port}"

    @property
    def aifactory_url(self) -> str:
        return self.url.rsplit(":", 1)[0] + f":{self.aifactory_port}"

    @property
    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def start(self) -> GatewayProcess:
        self.proc = _spawn(["gateway", "--controller", self.controller, "--http-port", f"main={self.port}",
                            "--http-port", f"gswarm_host={self.gswarm_port}", "--http-port",
                            f"profiler={self.profiler_port}", "--http-port", f"aifactory={self.aifactory_port}",
                            *self.extra], self.log_path)  # fmt: skip
        wait_for(lambda: http_answers(f"{self.url}/v1/health", self.ca_file) or self.proc.poll() is not None,
                 what="the gateway to listen")  # fmt: skip
        if self.proc.poll() is not None:
            raise RuntimeError(f"gateway exited at start:\n{self.log}")
        return self

    def stop(self) -> None:
        terminate(self.proc)


def http_answers(url: str, ca_file: Path | None = None) -> bool:
    """True once something answers HTTP at url, whatever the status (HTTPS checked against ca_file)."""
    context = ssl.create_default_context(cafile=str(ca_file)) if ca_file is not None else None
    try:
        with urllib.request.urlopen(url, timeout=2, context=context):
            return True
    except urllib.error.HTTPError:
        return True  # it answered, even if not 200
    except OSError:
        return False

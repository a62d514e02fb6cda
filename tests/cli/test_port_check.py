"""The busy-port check run before a farm starts: a taken port is refused with its holder named."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import pytest

from cli.port_check import PlannedPort, PortBusy, bind_problem, check_ports
from farm_processes import free_port

LISTEN = "import socket, time; s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen(); " \
         "print(s.getsockname()[1], flush=True); time.sleep(60)"  # fmt: skip


@pytest.fixture
def listener() -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    """Another process listening on a port of its own choosing."""
    proc = subprocess.Popen([sys.executable, "-c", LISTEN], stdout=subprocess.PIPE)
    assert proc.stdout is not None
    port = int(proc.stdout.readline())
    yield proc, port
    proc.kill()
    proc.wait()


def test_a_port_another_process_listens_on_is_refused_naming_it_and_the_flag(listener) -> None:
    proc, port = listener
    with pytest.raises(PortBusy) as refused:
        check_ports([PlannedPort("the controller's gRPC port", "127.0.0.1", port, "--grpc-port PORT")])
    message = str(refused.value)
    assert f"127.0.0.1:{port} is already in use by pid {proc.pid} (" in message
    assert "--grpc-port PORT (0 picks a free one)" in message


def test_the_wildcard_address_clashes_with_a_loopback_listener(listener) -> None:
    _, port = listener
    assert bind_problem("0.0.0.0", port) is not None


def test_free_ports_and_port_zero_pass() -> None:
    check_ports([PlannedPort("a", "127.0.0.1", free_port(), "--a"), PlannedPort("b", "127.0.0.1", 0, "--b"),
                 PlannedPort("c", "127.0.0.1", 0, "--c")])  # fmt: skip


def test_one_port_given_to_two_listeners_is_refused() -> None:
    port = free_port()
    with pytest.raises(PortBusy, match=f"gRPC and REST are both given port {port}.*--grpc-port PORT, --port PORT"):
        check_ports([PlannedPort("gRPC", "127.0.0.1", port, "--grpc-port PORT"),
                     PlannedPort("REST", "127.0.0.1", port, "--port PORT")])  # fmt: skip

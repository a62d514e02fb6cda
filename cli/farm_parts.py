"""The farm's parts: the controller, a REST gateway (worker), an agent, each one runnable alone.

A part is a picklable description of what to run. ``serve(stop, ready)`` runs it until ``stop``
is set and calls ``ready`` once, when it serves, with what others need to know of it (its
addresses, the node id). `aifarm controller`, `aifarm gateway` and `aifarm agent` serve one in
their own process; `aifarm up` (cli.farm_supervisor) serves each in a process of its own
(cli.part_process). Each part imports its code inside ``serve``, so a process loads and maps
only its own part: the agent's never has the controller's or the gateway's modules.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cli.exclusive_start import refuse_if_taken
from cli.port_check import PlannedPort

if TYPE_CHECKING:
    from agent.config import AgentConfig
    from controller.config import ControllerConfig
    from gateway.cors import CorsPolicy

#: Called once by a part when it serves, with its report.
Ready = Callable[[Any], None]


@dataclass(frozen=True)
class ControllerReport:
    """What the gateway, the agent and endpoints.json need of a running controller."""

    address: str
    #: The mutual-TLS port for agents holding a farm certificate ("" without TLS).
    agent_address: str
    agent_token: str
    api_key_file: Path
    #: With TLS: the farm CA (PEM) the gateway and the local agent verify the controller with.
    ca_pem: bytes | None = None
    #: With TLS: the served certificate and key, which the gateway serves too.
    tls_files: tuple[Path, Path] | None = None
    #: With TLS: the CA clients trust, for endpoints.json (None: a publicly trusted certificate).
    client_ca_file: Path | None = None
    #: gswarm's profiler gRPC port ("" when not served).
    profiler_address: str = ""

    @property
    def tls(self) -> bool:
        return self.tls_files is not None


@dataclass(frozen=True)
class ControllerPart:
    config: ControllerConfig
    #: Its ports, for a clean refusal when one was taken since the start-up check.
    ports: tuple[PlannedPort, ...] = ()

    async def serve(self, stop: asyncio.Event, ready: Ready) -> None:
        from controller.credentials import API_KEY_FILE
        from controller.server import Controller

        controller = Controller(self.config)
        try:
            try:
                address = await controller.start()
            except (OSError, RuntimeError):  # grpcio raises RuntimeError("Failed to bind to address ...")
                refuse_if_taken(list(self.ports))  # someone took the port since the check: say who
                raise
            assert controller.credentials is not None
            tls = controller.tls
            ready(ControllerReport(
                address=address, agent_address=controller.agent_address,
                agent_token=controller.credentials.agent_token, api_key_file=self.config.data_dir / API_KEY_FILE,
                ca_pem=tls.ca.ca_pem if tls else None, tls_files=(tls.cert_file, tls.key_file) if tls else None,
                client_ca_file=tls.client_ca_file if tls else None, profiler_address=controller.profiler_address,
            ))  # fmt: skip
            await stop.wait()
        finally:
            await controller.shutdown()


@dataclass(frozen=True)
class GatewayReport:
    #: Listener name -> the base URL it serves.
    urls: dict[str, str]
    #: The WebSocket listeners it serves ({"aifarm": "ws://..."}), for endpoints.json's "websocket".
    websocket: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class GatewayPart:
    controller: str
    #: Listener name -> (host, port) to bind, or to name when ``sockets`` are given.
    binds: dict[str, tuple[str, int]]
    max_body_bytes: int
    max_upload_bytes: int
    cors_policy: CorsPolicy
    controller_ca: bytes | None = None
    tls_files: tuple[Path, Path] | None = None
    #: Listener name -> file descriptors of sockets already bound and listening (a worker of
    #: `aifarm up`: its parent binds them, see cli.farm_supervisor); empty: bind ``binds`` here.
    socket_fds: Mapping[str, tuple[int, ...]] = field(default_factory=dict)
    #: Ports for a clean refusal when one was taken since the start-up check.
    ports: tuple[PlannedPort, ...] = ()
    #: (host, port) of AI Farm's WebSocket door (--websocket-port; 0 picks one); None: not served.
    websocket_bind: tuple[str, int] | None = None
    #: How often the WebSocket door pings its workers (--websocket-ping).
    websocket_ping_seconds: float = 5.0
    #: Where the WebSocket door keeps its workers' node credentials (None: in the process only).
    websocket_state_file: Path | None = None

    async def serve(self, stop: asyncio.Event, ready: Ready) -> None:
        from gateway.server import Gateway

        cert, key = self.tls_files or (None, None)
        sockets = {name: [socket.socket(fileno=fd) for fd in fds] for name, fds in self.socket_fds.items()}
        door = Gateway(self.controller, self.binds, max_body_bytes=self.max_body_bytes,
                       max_upload_bytes=self.max_upload_bytes, controller_ca=self.controller_ca, tls_cert_file=cert,
                       tls_key_file=key, cors_policy=self.cors_policy, sockets=sockets,
                       websocket=self.websocket_bind, websocket_ping_seconds=self.websocket_ping_seconds,
                       websocket_state_file=self.websocket_state_file)  # fmt: skip
        try:
            try:
                urls = await door.start()
            except OSError:
                refuse_if_taken(list(self.ports))
                raise
            ready(GatewayReport(urls, door.websocket_urls))
            await stop.wait()
        finally:
            await door.shutdown()


@dataclass(frozen=True)
class AgentReport:
    node_id: str
    #: The node-local REST listeners it serves (gswarm_client), by name.
    http: dict[str, str] = field(default_factory=dict)
    grpc: str = ""


@dataclass(frozen=True)
class AgentPart:
    config: AgentConfig

    async def serve(self, stop: asyncio.Event, ready: Ready) -> None:
        """Runs until ``stop`` or until the agent fails (its AgentError is raised: refused, say)."""
        from agent.node_agent import NodeAgent

        node = NodeAgent(self.config)
        job = asyncio.create_task(node.run(), name="agent")
        listening = asyncio.create_task(node.local_api_ready.wait())
        await asyncio.wait([job, listening], return_when=asyncio.FIRST_COMPLETED)
        listening.cancel()
        if node.local_api_ready.is_set():
            ready(AgentReport(node.node_id, node.local_urls, node.local_grpc))
        stopped = asyncio.create_task(stop.wait())
        await asyncio.wait([job, stopped], return_when=asyncio.FIRST_COMPLETED)
        stopped.cancel()
        await node.shutdown()
        job.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await job

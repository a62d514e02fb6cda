"""THE listener table (DESIGN, Ports): listener name -> default port -> gRPC services.

One table drives both the Python gateway and the generated Envoy config, so a
compat service is exposed by adding its full name to a listener here. A
listener with no services is not started.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

#: The REST doors' default limits (--max-body-mb, --max-upload-mb): a JSON request body, an upload.
#: Here, with the table, so that the command line reads them without loading the gateway.
DEFAULT_MAX_BODY_BYTES = 64 * 1024 * 1024
DEFAULT_MAX_UPLOAD_BYTES = 1024 * 1024 * 1024
#: Wildcard bind addresses, and the loopback address this machine reaches each at.
_LOOPBACK_OF_WILDCARD = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}


def loopback_for(host: str) -> str:
    """Where this machine reaches a listener bound to `host`: a wildcard address as loopback."""
    return _LOOPBACK_OF_WILDCARD.get(host, host)


def host_port(host: str, port: int) -> str:
    """"host:port", an IPv6 address in brackets."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def served_url(scheme: str, host: str, bound_host: str, bound_port: int) -> str:
    """The URL a listener bound to `host` answers at: a wildcard address shown as loopback."""
    shown = loopback_for(host) if host in _LOOPBACK_OF_WILDCARD else bound_host
    return f"{scheme}://{host_port(shown, bound_port)}"


#: AI Farm's documented WebSocket worker port (seeds/001), served by gateway.websocket_door.
WEBSOCKET_PORT = 8765


@dataclass(frozen=True)
class Listener:
    """One HTTP listener of the REST door."""

    name: str
    """Key used in configuration, endpoints.json and ``Gateway(listeners=...)``."""
    default_port: int
    """The documented port; 0 at run time picks a free one."""
    services: tuple[str, ...]
    """Full gRPC service names whose google.api.http rules this listener serves."""
    side: str = "controller"
    """Which process runs it: "controller" (transcodes to the controller) or "agent" (node-local)."""
    description: str = ""


CORE_SERVICES = (
    "aifarm.v1.TaskService",
    "aifarm.v1.NodeService",
    "aifarm.v1.DatasetService",
    "aifarm.v1.ModelService",
    "aifarm.v1.SystemService",
    "aifarm.v1.ProfilingService",
    "aifarm.v1.ClientGroupService",
)

SERVERMGMT_SERVICES = (
    "aifarm.compat.servermgmt.v1.HealthService",
    "aifarm.compat.servermgmt.v1.TrainingService",
    "aifarm.compat.servermgmt.v1.SystemService",
    "aifarm.compat.servermgmt.v1.ModelService",
    "aifarm.compat.servermgmt.v1.DatasetService",
)
"""The Server Management API (seeds/004): /health, /, /api/v1/{training,system,models,datasets}."""

SHELBY_SERVICES = (
    "aifarm.compat.shelby.v1.JobService",
    "aifarm.compat.shelby.v1.FrontendService",
    "aifarm.compat.shelby.v1.AgentService",
)
"""ShelbyCompute (seeds/003): /api/jobs/*, /api/frontend/*, /api/nodes/*, /api/usage-report."""

AIFARM_SERVICES = (
    "aifarm.compat.aifarm.v1.TasksService",
    "aifarm.compat.aifarm.v1.ClientsService",
    "aifarm.compat.aifarm.v1.MetricsService",
)
"""AI Farm (seeds/001): /api/tasks, /api/clients, /api/metrics."""

GSWARM_HOST_SERVICES = (
    "aifarm.compat.gswarm.v1.HostModelService",
    "aifarm.compat.gswarm.v1.HostSystemService",
    "aifarm.compat.gswarm.v1.HostQueueService",
    "aifarm.compat.gswarm.v1.HostServingService",
    "aifarm.compat.gswarm.v1.HostDataService",
)
"""gswarm's host API (seeds/002): /api/v1/{models,services,nodes,health,metrics,queue,data} on its own port (Server Management
has /api/v1/models on main)."""

GSWARM_CLIENT_SERVICES = ("aifarm.compat.gswarm.v1.ClientModelService", "aifarm.compat.gswarm.v1.ClientServingService")
"""gswarm's client API (seeds/002): /api/v1/{models,resources,services}, served by each agent for its own node."""

AIFACTORY_SERVICES = ("aifarm.compat.aifactory.v1.ClientService",)
"""AI Factory Client Services (seeds/000): /api/v1/client-group/*, /api/v1/observer on its own port."""

PROFILER_SERVICES = ("aifarm.compat.gswarm.v1.ProfilerHttpService",)
"""gswarm's profiler HTTP API (seeds/002): /status, /profiling/*, /clients, /metrics/latest, on its own port and on main."""

LISTENERS: tuple[Listener, ...] = (
    Listener("main", 8000, (*CORE_SERVICES, *SERVERMGMT_SERVICES, *SHELBY_SERVICES, *AIFARM_SERVICES, *PROFILER_SERVICES),
             description="core /v1, AI Farm, ShelbyCompute, Server Management, gswarm's profiler HTTP, docs"),
    Listener("aifactory", 8001, AIFACTORY_SERVICES, description="AI Factory client service"),
    Listener("gswarm_host", 9010, GSWARM_HOST_SERVICES, description="gswarm host API (its /api/v1/models collides on main)"),
    Listener("profiler", 8091, PROFILER_SERVICES, description="gswarm profiler HTTP API"),
    Listener("client_process", 9000, (), side="agent", description="AI Factory client-process API of a node"),
    Listener("gswarm_client", 9011, GSWARM_CLIENT_SERVICES, side="agent", description="gswarm client API of a node"),
)
"""The AI Farm WebSocket (WEBSOCKET_PORT, gateway.websocket_door) and the controller's gRPC port
(50051) are not REST listeners and so are not in this table."""


def by_name(table: Iterable[Listener] = LISTENERS) -> dict[str, Listener]:
    return {listener.name: listener for listener in table}


def default_binds(
    table: Iterable[Listener] = LISTENERS, *, host: str = "0.0.0.0", side: str = "controller", ports: Mapping[str, int] | None = None
) -> dict[str, tuple[str, int]]:
    """``{name: (host, port)}`` for the listeners of one side that have services (ports overridable)."""
    ports = ports or {}
    return {
        lst.name: (host, ports.get(lst.name, lst.default_port))
        for lst in table
        if lst.services and lst.side == side
    }

"""Settings of an agent process."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


#: The controller's default mutual-TLS port for agents (its --agent-port).
DEFAULT_AGENT_PORT = 50052


@dataclass(frozen=True)
class AgentConfig:
    #: Controller gRPC address, "host:port".
    controller: str
    #: The agent token the controller printed or stored in <controller data dir>/agent_token.
    token: str
    #: Node id, work directories and cached datasets live here.
    data_dir: Path
    #: Labels reported to the controller.
    labels: dict[str, str] = field(default_factory=dict)
    #: Advertise at most this many CPU cores (0: all of them).
    cpu_cores: int = 0
    #: Advertise exactly this many CPU cores, more than the machine has if need be (0: as `cpu_cores`
    #: says). A task asks for one core unless it says otherwise, so this is how many such tasks the
    #: node runs at once: more than its cores oversubscribes them, as Slurm's `CPUs=` above the
    #: real count does, for work that mostly waits (or is trivial).
    cpu_slots: int = 0
    #: Advertise at most this much memory in MiB (0: all of it).
    memory_mb: int = 0
    #: First reconnect delay; doubles up to `backoff_max_seconds`, with full jitter.
    backoff_initial_seconds: float = 0.5
    backoff_max_seconds: float = 30.0
    #: After an NVML query fails (a GPU fell off the bus, say), the seconds before NVML is asked again.
    nvml_retry_seconds: float = 30.0
    #: The CA certificate (PEM) that signed the controller's; the agent then speaks TLS. None: plaintext.
    ca_pem: bytes | None = None
    #: "host:port" of the controller's mutual-TLS port (its --agent-port) for a node holding a farm certificate;
    #: empty: the `controller` host at port 50052.
    controller_mtls: str = ""
    #: The port this node offers for hosting a gang's rank 0 (0: any free one, reserved at start).
    rendezvous_port: int = 0
    #: The address other nodes reach this one at for a rendezvous ("": the one its stream comes from).
    rendezvous_address: str = ""
    #: gswarm's client API (the node-local API, agent.local_api): (host, port) of its REST listener (port 0:
    #: any free one); its gRPC server, which other nodes copy models from, takes a free port on that host.
    #: None: not served, and this node holds no models.
    gswarm_client: tuple[str, int] | None = None

    @property
    def mtls_address(self) -> str:
        """Where a node with a farm certificate connects (mutual TLS)."""
        return self.controller_mtls or f"{self.controller.rpartition(':')[0]}:{DEFAULT_AGENT_PORT}"

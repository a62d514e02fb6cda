"""<data-dir>/endpoints.json: what a running farm bound, so tools never guess ports."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

FILE_NAME = "endpoints.json"


@dataclass
class AgentEndpoints:
    """One agent's listeners: in the farm's endpoints.json ("agents"), and alone in its own data directory."""

    node_id: str
    http: dict[str, str] = field(default_factory=dict)
    #: Its node-local gRPC server (gswarm's client API, and the PeerService other nodes copy models from).
    grpc: str = ""

    def write(self, data_dir: Path) -> WrittenEndpoints:
        return _write(data_dir, json.dumps(asdict(self), indent=2) + "\n")


@dataclass
class Endpoints:
    grpc: str
    api_key_file: str
    #: The controller's ports and the REST listeners serve TLS.
    tls: bool = False
    #: The CA certificate clients verify them with (absent: a publicly trusted certificate, or no TLS).
    ca_file: str = ""
    #: The mutual-TLS port for agents holding a farm certificate (with TLS only).
    grpc_agents: str = ""
    #: gswarm's profiler gRPC port (gswarm_profiler.ProfilerService), when served.
    grpc_profiler: str = ""
    http: dict[str, str] = field(default_factory=dict)
    websocket: dict[str, str] = field(default_factory=dict)
    agents: list[AgentEndpoints] = field(default_factory=list)

    def write(self, data_dir: Path) -> WrittenEndpoints:
        # Listeners that do not exist (yet) are left out rather than written empty.
        doc = {k: v for k, v in asdict(self).items() if v or k in ("grpc", "agents")}
        doc["agents"] = [{k: v for k, v in agent.items() if v} for agent in doc["agents"]]
        return _write(data_dir, json.dumps(doc, indent=2) + "\n")


def _write(data_dir: Path, text: str) -> WrittenEndpoints:
    path = data_dir / FILE_NAME
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)
    return WrittenEndpoints(path, text)


@dataclass(frozen=True)
class WrittenEndpoints:
    """An endpoints.json this process wrote, so that it removes its own file and no other."""

    path: Path
    text: str

    def remove(self) -> None:
        """Delete the file if it still holds what this process wrote (another farm's stays)."""
        try:
            if self.path.read_text() == self.text:
                self.path.unlink()
        except FileNotFoundError:
            pass

"""The WebSocket door's node credentials on disk: Client-ID -> the node secret Register gave it.

The door holds each worker's node session for it, as an agent holds its own, so it keeps their
credentials as an agent keeps its one: in a file its owner alone reads (0600), replaced
atomically. With it a worker reconnecting after the gateway restarted is still its node (the
original client's Client-ID is a stable machine hash); without it (no file given) the secrets
live in the process only.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import structlog

log = structlog.get_logger(__name__)


class SecretFile:
    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self) -> dict[str, str]:
        """What the file holds; empty when there is none yet (or it cannot be read, said in the log)."""
        try:
            data = json.loads(self.path.read_text())
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            log.error("websocket.state_unreadable", path=str(self.path), error=str(exc))
            return {}
        nodes = data.get("nodes") if isinstance(data, dict) else None
        return {k: v for k, v in (nodes or {}).items() if isinstance(k, str) and isinstance(v, str) and v}

    def save(self, secrets: dict[str, str]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = self.path.with_name(f".{self.path.name}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.fchmod(fd, 0o600)  # whatever the umask
            os.write(fd, json.dumps({"nodes": secrets}, indent=1, sort_keys=True).encode())
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, self.path)

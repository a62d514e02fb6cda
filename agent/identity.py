"""The node's stable id, kept on disk so a restarted agent is the same node."""

from __future__ import annotations

import socket
import uuid
from pathlib import Path


def node_id(data_dir: Path) -> str:
    path = data_dir / "node_id"
    if path.exists() and (existing := path.read_text().strip()):
        return existing
    host = "".join(c if c.isalnum() or c in "-_" else "-" for c in socket.gethostname())[:40].strip("-_")
    new = f"{host or 'node'}-{uuid.uuid4().hex[:8]}"
    data_dir.mkdir(parents=True, exist_ok=True)
    path.write_text(new + "\n")
    return new

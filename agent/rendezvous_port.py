"""The port a node offers for hosting a gang's rank 0, reserved for as long as the agent runs.

The agent binds it (all addresses, SO_REUSEADDR) and never listens on it. On
Linux that keeps every other bind, and the kernel's choice of ephemeral ports,
off it, while rank 0's torch TCPStore, which binds with SO_REUSEADDR and listens,
can still take it. So the port the hello names is free when a gang needs it.
The controller gives one gang's rank 0 at a time to a node (see
`controller.domain.task_placement`).
"""

from __future__ import annotations

import socket

from agent.errors import AgentError


class RendezvousPort:
    def __init__(self, port: int = 0) -> None:
        """Reserve `port` (0: any free one); AgentError when it is in use."""
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            self._socket.bind(("0.0.0.0", port))
        except OSError as exc:
            self._socket.close()
            raise AgentError(f"cannot reserve rendezvous port {port}: {exc.strerror}; pick another with"
                             " --rendezvous-port (0: any free one)") from exc  # fmt: skip
        self.port: int = self._socket.getsockname()[1]

    def close(self) -> None:
        self._socket.close()

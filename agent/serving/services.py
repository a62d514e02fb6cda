"""The services running on this node: which model and device each serves, and where it listens.

The serving runners add and remove their own entry; the node-local API reads it (a service's live
figures, whether a deletion would pull a model from under one)."""

from __future__ import annotations

from dataclasses import dataclass

from gateway.listeners import loopback_for


@dataclass
class RunningService:
    service_id: str
    model: str
    device: str
    framework: str
    #: 0 until the server listens.
    port: int = 0


class ServiceBook:
    def __init__(self, host: str) -> None:
        #: Where this node's servers bind (the agent's listen host).
        self.host = host
        self._running: dict[str, RunningService] = {}

    @property
    def local_host(self) -> str:
        """The host a client on this node reaches the servers at."""
        return loopback_for(self.host)

    def add(self, service: RunningService) -> None:
        self._running[service.service_id] = service

    def remove(self, service_id: str) -> None:
        self._running.pop(service_id, None)

    def get(self, service_id: str) -> RunningService | None:
        return self._running.get(service_id)

    def using(self, model: str, device: str = "") -> list[str]:
        """The services serving `model` (from `device`, when given)."""
        return [s.service_id for s in self._running.values() if s.model == model and (not device or s.device == device)]

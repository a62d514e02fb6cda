"""Refuse a busy port before anything is started or written.

gRPC binds with SO_REUSEPORT by default, so a second controller on a busy port would come
up beside the first and the kernel would split connections between them; aiohttp would
fail, but only after the controller had started. So every port a command will bind is
tried first with a plain bind (SO_REUSEADDR, as both servers set it, and no SO_REUSEPORT):
a port someone listens on fails it, whatever that listener's options.
"""

from __future__ import annotations

import errno
import socket
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from cli.holders import describe_process, listening_pid


@dataclass(frozen=True)
class PlannedPort:
    """A port a command is about to bind, and how its user would change it."""

    #: What listens there, for the message: "gRPC port", "REST listener main".
    what: str
    host: str
    port: int
    #: The option that sets it, as the user types it: "--grpc-port PORT".
    flag: str


class PortBusy(Exception):
    """A planned port cannot be bound; the message names the holder and the flag."""


def check_ports(planned: Iterable[PlannedPort]) -> None:
    """Raise PortBusy for the first planned port that is taken (port 0 is always free)."""
    planned = [p for p in planned if p.port != 0]
    twice = [port for port, n in Counter(p.port for p in planned).items() if n > 1]
    if twice:
        users = [p for p in planned if p.port == twice[0]]
        raise PortBusy(
            f"{' and '.join(p.what for p in users)} are both given port {twice[0]}; "
            f"give each its own ({', '.join(p.flag for p in users)}; 0 picks a free one)."
        )
    for port in planned:
        problem = bind_problem(port.host, port.port)
        if problem is not None:
            raise PortBusy(busy_message(port, problem))


def bind_problem(host: str, port: int) -> OSError | None:
    """The error binding (host, port) would give now, or None when it is free."""
    try:
        addresses = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        return exc
    for family, kind, proto, _, address in addresses:
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(address)
            except OSError as exc:
                return exc
    return None


def busy_message(port: PlannedPort, error: OSError) -> str:
    """What is wrong with a port that failed to bind, who holds it, and the flag that changes it."""
    where = f"{port.host}:{port.port}"
    change = f"choose another port with {port.flag} (0 picks a free one)"
    if error.errno == errno.EADDRINUSE:
        pid = listening_pid(port.port)
        holder = describe_process(pid) if pid else "another process"
        return f"{port.what} {where} is already in use by {holder}. Stop that process, or {change}."
    return f"cannot bind {port.what} {where}: {error.strerror or error}. Check --host, or {change}."

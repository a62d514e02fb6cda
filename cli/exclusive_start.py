"""Start only when nothing else holds what this process needs: its data directory and its ports.

The commands that run the farm's parts enter ``exclusive()`` before they start anything, so a
second `aifarm up` beside a running one is refused with a message, not a traceback, and
writes nothing (the running farm's endpoints.json, database and keys are left alone).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import click

from cli.data_dir_lock import DataDirBusy, DataDirLock
from cli.port_check import PlannedPort, PortBusy, bind_problem, busy_message, check_ports


class StartRefused(click.ClickException):
    """This process cannot start beside what already runs: the message says why and what to change."""


@contextlib.contextmanager
def exclusive(data_dir: Path | None, ports: list[PlannedPort]) -> Iterator[None]:
    """Hold the data directory and make sure every port is free, before anything is written.

    The lock comes first: when both clash, the shared directory is the real problem.
    """
    lock = DataDirLock(data_dir) if data_dir is not None else None
    try:
        if lock is not None:
            lock.acquire()
        check_ports(ports)
    except (DataDirBusy, PortBusy) as exc:
        if lock is not None:
            lock.release()
        raise StartRefused(str(exc)) from None
    except OSError as exc:  # from the lock: the directory cannot be made or written
        raise StartRefused(
            f"cannot lock the data directory {data_dir}: {exc.strerror or exc}. "
            "Check that it is a directory this user may write, or choose another with --data-dir DIR."
        ) from None
    try:
        yield
    finally:
        if lock is not None:
            lock.release()


def refuse_if_taken(ports: list[PlannedPort]) -> None:
    """After a bind failed at start: a clean refusal if a port was taken meanwhile (else the caller re-raises)."""
    for port in ports:
        problem = bind_problem(port.host, port.port) if port.port else None
        if problem is not None:
            raise StartRefused(busy_message(port, problem)) from None

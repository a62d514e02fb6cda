"""Who holds something we wanted (a port, the data directory): a process, named for a message."""

from __future__ import annotations

import contextlib
import os
import shlex

import psutil

#: The module `aifarm up` runs each of its parts in (`python -m cli.part_process ...`).
PART_MODULE = "cli.part_process"

#: Longest command line shown; the rest is elided (a farm's command line can be long).
_MAX_COMMAND = 160


def describe_process(pid: int) -> str:
    """``pid 1234 (aifarm up --data-dir .aifarm)``, or as much of it as can be read."""
    try:
        command = shlex.join(psutil.Process(pid).cmdline())
    except psutil.NoSuchProcess:
        return f"pid {pid} (which has exited; a child of it may still hold it)"
    except (psutil.AccessDenied, psutil.ZombieProcess):
        return f"pid {pid}"
    if len(command) > _MAX_COMMAND:
        command = command[: _MAX_COMMAND - 3] + "..."
    described = f"pid {pid} ({command})" if command else f"pid {pid}"
    if PART_MODULE in command:  # a part of an `aifarm up` (cli.part_process): the farm is what to stop
        with contextlib.suppress(psutil.Error):
            parent = psutil.Process(pid).ppid()
            return f"{described}, a part of the farm {describe_process(parent)}"
    return described


def listening_pid(port: int) -> int | None:
    """The process listening on a TCP port, when this user may see it (psutil reads /proc)."""
    try:
        connections = psutil.net_connections(kind="tcp")
    except (psutil.AccessDenied, OSError):
        return None
    pids = {
        conn.pid
        for conn in connections
        if conn.status == psutil.CONN_LISTEN and conn.laddr and conn.laddr.port == port and conn.pid != os.getpid()
    }
    # Another user's socket comes back without a pid: name one we can see, if any.
    return min((pid for pid in pids if pid is not None), default=None)

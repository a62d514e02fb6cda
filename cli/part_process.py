"""One part of `aifarm up` in a process of its own: ``python -m cli.part_process NAME REPORT_FD PARENT_PID LEVEL``.

The parent (cli.farm_supervisor) writes the pickled part (cli.farm_parts) to our stdin; pickle,
because parent and child are the same code and the pipe is private to them, and the part holds
secrets (the join token) that must not be in argv or the environment. When the part serves,
its report is pickled to REPORT_FD, which is then closed: the parent reads to the end, so an
empty read means the part died before it served. SIGTERM or SIGINT stop the part cleanly.

The kernel kills this process when its parent dies however it dies (PR_SET_PDEATHSIG): a farm
killed outright leaves nothing behind, as when it was one process.
"""

from __future__ import annotations

import asyncio
import ctypes
import os
import pickle
import signal
import sys

import click
import structlog

from agent.errors import AgentError
from cli.log_config import configure_logging

_PR_SET_PDEATHSIG = 1


def _die_with_parent(parent_pid: int) -> None:
    if not sys.platform.startswith("linux"):
        return
    if ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
        sys.exit(f"aifarm up: prctl(PR_SET_PDEATHSIG) failed: {os.strerror(ctypes.get_errno())}")
    if os.getppid() != parent_pid:
        os._exit(137)  # the parent died before the signal was armed: it will never come


async def _serve(part: object, report_fd: int) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)

    def ready(report: object) -> None:
        with os.fdopen(report_fd, "wb") as out:
            pickle.dump(report, out)

    await part.serve(stop, ready)  # type: ignore[attr-defined]


def main() -> None:
    name, report_fd, parent_pid, level = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    _die_with_parent(parent_pid)
    part = pickle.load(sys.stdin.buffer)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)  # what the part starts inherits no pipe to the parent
    os.close(devnull)
    configure_logging(level)
    structlog.contextvars.bind_contextvars(part=name)
    try:
        asyncio.run(_serve(part, report_fd))
    except click.ClickException as exc:  # a refusal (a port taken since the check, the agent refused): no traceback
        click.echo(f"aifarm up: {name}: {exc.format_message()}", err=True)
        sys.exit(exc.exit_code)
    except AgentError as exc:  # refused by the controller, a data directory in use
        click.echo(f"aifarm up: {name}: {exc}", err=True)
        sys.exit(1)


if __name__ == "__main__":
    main()

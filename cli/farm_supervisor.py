"""`aifarm up`'s own process: it runs the controller, N gateway workers and the agent as processes.

So REST, gRPC and the agent's work never share an event loop, and the REST door uses every
core. Each part is a fresh interpreter (``python -m cli.part_process``, not a fork of this
process): it loads only its own code, and gRPC, which does not survive a fork, starts clean.

The workers share the REST ports through SO_REUSEPORT: this process binds one listening
socket per worker and port (port 0 is resolved once, a port taken is refused before anything
starts, and it stays held for the farm's life), and each worker serves its own. The kernel
spreads new connections over the sockets by their addresses, so keep-alive clients such as a
load generator's are spread evenly; one socket shared by all would let the first worker that
wakes accept a whole burst of connections (asyncio accepts up to its backlog at once).

Stopping (SIGINT, SIGTERM): the workers, then the agent, then the controller, each with
SIGTERM (SIGKILL after ``STOP_SECONDS``), then endpoints.json goes; the caller releases the
data directory's lock. A part that ends on its own stops the farm, naming it and how it
ended. If this process is killed outright the kernel kills the parts (cli.part_process).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import pickle
import signal
import socket
import sys
from collections.abc import Mapping
from dataclasses import dataclass

import click
import structlog

from agent.config import AgentConfig
from agent.runners.process import describe_exit
from cli.endpoints import AgentEndpoints, Endpoints, WrittenEndpoints
from cli.exclusive_start import refuse_if_taken
from cli.farm_parts import AgentPart, AgentReport, ControllerPart, ControllerReport, GatewayPart
from cli.holders import PART_MODULE
from cli.port_check import PlannedPort

log = structlog.get_logger(__name__)

#: How long a part may take to stop after SIGTERM before it is killed.
STOP_SECONDS = 20.0
#: Pending connections per worker socket (aiohttp's own default).
BACKLOG = 128


def default_workers() -> int:
    """One gateway worker per core this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


@dataclass(frozen=True)
class FarmPlan:
    controller: ControllerPart
    #: The workers' part, less what the controller's report and the sockets fill in.
    gateway: GatewayPart
    workers: int
    #: The local agent's settings, less the controller's address, token and CA (from its report);
    #: None: no agent (--no-agent).
    agent: AgentConfig | None
    log_level: str
    #: The REST ports as the user sets them, for a refusal naming the flag.
    rest_ports: tuple[PlannedPort, ...]


class PartEnded(Exception):
    """A part ended on its own: the message names it and how it ended."""


@dataclass
class _Part:
    """A running part: its process and the report it writes once it serves."""

    name: str
    proc: asyncio.subprocess.Process
    report: asyncio.Future[bytes]

    def ended(self, when: str) -> PartEnded:
        code = self.proc.returncode
        how = describe_exit(code)[1] if code is not None else "closed its report pipe"
        return PartEnded(f"aifarm up: {self.name} (pid {self.proc.pid}) {how} {when}; stopping the farm"
                         " (its own messages are above).")  # fmt: skip


def _read_to_end(fd: int) -> bytes:
    with os.fdopen(fd, "rb") as pipe:
        return pipe.read()


async def _start(name: str, argv_name: str, part: object, level: str, pass_fds: tuple[int, ...] = ()) -> _Part:
    read_end, write_end = os.pipe()
    try:
        # A process group of its own: a terminal's Ctrl-C reaches this process only, which then
        # stops the parts in order (else they all stop at once, racing it).
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", PART_MODULE, argv_name, str(write_end), str(os.getpid()), level,
            stdin=asyncio.subprocess.PIPE, pass_fds=(write_end, *pass_fds), process_group=0,
        )  # fmt: skip
    except BaseException:
        os.close(read_end)
        raise
    finally:
        os.close(write_end)
    report = asyncio.get_running_loop().run_in_executor(None, _read_to_end, read_end)
    assert proc.stdin is not None
    proc.stdin.write(pickle.dumps(part))
    with contextlib.suppress(ConnectionError):  # it died at once: its report says so
        await proc.stdin.drain()
    proc.stdin.close()
    log.info("farm.part_started", part=argv_name, pid=proc.pid)
    return _Part(name, proc, report)


async def _reports(parts: list[_Part], stop: asyncio.Event) -> list[object] | None:
    """Each part's report, in order, once all serve; None if ``stop`` came first; raises PartEnded."""
    pending = {asyncio.ensure_future(p.report): p for p in parts}
    stopped = asyncio.ensure_future(stop.wait())
    try:
        while pending:
            done, _ = await asyncio.wait([*pending, stopped], return_when=asyncio.FIRST_COMPLETED)
            if stopped in done:
                return None
            for future in done:
                part = pending.pop(future)
                if not future.result():  # the pipe closed without a report: the part is gone
                    with contextlib.suppress(asyncio.TimeoutError):
                        await asyncio.wait_for(part.proc.wait(), 5)
                    raise part.ended("before it served")
    finally:
        stopped.cancel()
    return [pickle.loads(p.report.result()) for p in parts]


def bind_rest_sockets(binds: Mapping[str, tuple[str, int]], workers: int) -> list[dict[str, list[socket.socket]]]:
    """Per worker, per listener: its own socket on the listener's port (every address of its host,
    as asyncio's create_server binds), listening, with SO_REUSEPORT so that all workers share it."""
    per_worker: list[dict[str, list[socket.socket]]] = [{} for _ in range(workers)]
    try:
        for name, (host, port) in binds.items():
            infos = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
            for family, kind, proto, _, address in dict.fromkeys(infos):
                for sockets in per_worker:
                    sock = socket.socket(family, kind, proto)
                    sockets.setdefault(name, []).append(sock)
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
                    if family == socket.AF_INET6:
                        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
                    sock.bind((address[0], port, *address[2:]))
                    sock.listen(BACKLOG)
                    port = sock.getsockname()[1]  # port 0: the one the first socket got, for all
    except BaseException:
        close_sockets(per_worker)
        raise
    return per_worker


def close_sockets(per_worker: list[dict[str, list[socket.socket]]]) -> None:
    for sockets in per_worker:
        for group in sockets.values():
            for sock in group:
                sock.close()


async def _stop(groups: list[list[_Part]]) -> None:
    """Each group in turn: SIGTERM to all its parts, then wait (SIGKILL after STOP_SECONDS)."""
    for group in groups:
        for part in group:
            if part.proc.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    part.proc.send_signal(signal.SIGTERM)
        await asyncio.gather(*(_ended(part) for part in group))


async def _ended(part: _Part) -> None:
    try:
        await asyncio.wait_for(part.proc.wait(), STOP_SECONDS)
    except asyncio.TimeoutError:
        log.warning("farm.part_killed", part=part.name, pid=part.proc.pid,
                    reason=f"still running {STOP_SECONDS:g} s after SIGTERM")
        with contextlib.suppress(ProcessLookupError):
            part.proc.kill()
        await part.proc.wait()


async def run_farm(plan: FarmPlan, stop: asyncio.Event) -> int:
    """Run the farm until ``stop`` (0) or until a part ends on its own (1, said on stderr)."""
    config = plan.controller.config
    try:
        per_worker = bind_rest_sockets(plan.gateway.binds, plan.workers)
    except OSError:
        refuse_if_taken(list(plan.rest_ports))  # taken since the check: say who
        raise
    controller: _Part | None = None
    workers: list[_Part] = []
    agent: list[_Part] = []
    written: WrittenEndpoints | None = None
    try:
        controller = await _start("the controller", "controller", plan.controller, plan.log_level)
        reports = await _reports([controller], stop)
        if reports is None:
            return 0
        served: ControllerReport = reports[0]  # type: ignore[assignment]
        gateway = dataclasses.replace(plan.gateway, controller=served.address, controller_ca=served.ca_pem,
                                      tls_files=served.tls_files)  # fmt: skip
        for n, sockets in enumerate(per_worker, start=1):
            fds = {name: tuple(s.fileno() for s in group) for name, group in sockets.items()}
            # One worker holds the WebSocket door: a worker's node credentials live in that process
            # (gateway.websocket_door), so every connection of a Client-ID must reach the same one.
            part = dataclasses.replace(gateway, socket_fds=fds, websocket_bind=gateway.websocket_bind if n == 1 else None)
            workers.append(await _start(f"gateway worker {n}", f"gateway-{n}", part, plan.log_level,
                                        tuple(fd for group in fds.values() for fd in group)))  # fmt: skip
        if plan.agent is not None:
            node = dataclasses.replace(plan.agent, controller=served.address, token=served.agent_token,
                                       ca_pem=served.ca_pem, controller_mtls=served.agent_address)  # fmt: skip
            agent.append(await _start("the agent", "agent", AgentPart(node), plan.log_level))
        reports = await _reports([*workers, *agent], stop)
        if reports is None:
            return 0
        endpoints = Endpoints(grpc=served.address, api_key_file=str(served.api_key_file), tls=served.tls,
                              ca_file=str(served.client_ca_file or ""), grpc_agents=served.agent_address,
                              grpc_profiler=served.profiler_address)  # fmt: skip
        endpoints.http = dict(reports[0].urls)  # type: ignore[attr-defined]  # every worker serves the same
        endpoints.websocket = dict(reports[0].websocket)  # type: ignore[attr-defined]  # worker 1's
        endpoints.agents = [AgentEndpoints(node_id=r.node_id, http=r.http, grpc=r.grpc) for r in reports if isinstance(r, AgentReport)]
        written = endpoints.write(config.data_dir)
        rest = "".join(f"; REST {name} {url}" for name, url in endpoints.http.items())
        ca = f" (TLS; clients trust {endpoints.ca_file})" if endpoints.ca_file else " (TLS)" if endpoints.tls else ""
        click.echo(f"aifarm is up: gRPC {served.address}{ca}{rest}; endpoints in {written.path}. Ctrl-C stops it.",
                   err=True)  # fmt: skip
        log.info("farm.up", controller=controller.proc.pid, gateway_workers=[w.proc.pid for w in workers],
                 agent=agent[0].proc.pid if agent else None)  # fmt: skip
        return await _watch([controller, *workers, *agent], stop)
    except PartEnded as exc:
        click.echo(str(exc), err=True)
        return 1
    finally:
        click.echo("shutting down...", err=True)
        await _stop([workers, agent, [controller] if controller else []])
        close_sockets(per_worker)
        if written is not None:
            written.remove()


async def _watch(parts: list[_Part], stop: asyncio.Event) -> int:
    exits = {asyncio.ensure_future(p.proc.wait()): p for p in parts}
    stopped = asyncio.ensure_future(stop.wait())
    done, _ = await asyncio.wait([*exits, stopped], return_when=asyncio.FIRST_COMPLETED)
    for future in [*exits, stopped]:
        future.cancel()
    ended = [exits[f] for f in done if f in exits]
    if stopped in done and not ended:
        return 0
    raise ended[0].ended("while the farm was up")

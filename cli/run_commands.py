"""`aifarm up`, `aifarm controller`, `aifarm gateway`, `aifarm agent`: run the farm's parts in the foreground.

What only one command runs (the controller, the gateway, the agent) is imported when it runs,
not here: every `aifarm` command loads this module, and an agent has no use for the rest.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import signal
from pathlib import Path
from typing import TYPE_CHECKING, Awaitable, Callable, TypeVar

import click
import structlog

from agent.channel import ENV_CA_FILE, read_ca_file
from agent.config import AgentConfig
from agent.errors import AgentError
from cli.cors_option import cors_origin_option
from cli.endpoints import AgentEndpoints, Endpoints, WrittenEndpoints
from cli.exclusive_start import exclusive
from cli.farm_parts import ControllerPart, ControllerReport, GatewayPart, GatewayReport
from cli.log_config import LEVELS, configure_logging
from cli.port_check import PlannedPort
from controller.config import DEFAULT_AIFACTORY_URL, ControllerConfig
if TYPE_CHECKING:
    from agent.node_agent import NodeAgent
from gateway.listeners import (
    DEFAULT_MAX_BODY_BYTES,
    DEFAULT_MAX_UPLOAD_BYTES,
    LISTENERS,
    WEBSOCKET_PORT,
    default_binds,
    host_port,
    loopback_for,
)

log = structlog.get_logger(__name__)
T = TypeVar("T")


def default_data_dir() -> Path:
    return Path(os.environ.get("AIFARM_DATA_DIR", ".aifarm"))


def _keys(value: str | None) -> tuple[str, ...]:
    return tuple(k.strip() for k in (value or "").split(",") if k.strip())


def _labels(values: tuple[str, ...]) -> dict[str, str]:
    out = {}
    for item in values:
        key, sep, val = item.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"expected KEY=VALUE, got {item!r}", param_hint="--label")
        out[key] = val
    return out


_HTTP_LISTENERS = [lst.name for lst in LISTENERS if lst.side == "controller" and lst.services]


def _gswarm_client_option(f: Callable[..., object]) -> Callable[..., object]:
    return click.option(
        "--gswarm-client-port", type=click.IntRange(-1, 65535), default=9011, show_default=True, metavar="PORT",
        help="The agent serves gswarm's client API (/api/v1/models, /api/v1/resources: this node's models) on this"
             " port, and lends its models to other nodes on a free gRPC port beside it. 0: any free port;"
             " -1: serve neither (the node then holds no models).")(f)  # fmt: skip


def _gswarm_client(host: str, port: int) -> tuple[str, int] | None:
    return None if port < 0 else (host, port)


def _http_ports(values: tuple[str, ...]) -> dict[str, int]:
    ports: dict[str, int] = {}
    for item in values:
        name, sep, port = item.partition("=")
        if not sep or name not in _HTTP_LISTENERS or not port.isdigit():
            raise click.BadParameter(
                f"expected LISTENER=PORT with LISTENER one of {', '.join(_HTTP_LISTENERS)}, got {item!r}",
                param_hint="--http-port",
            )
        ports[name] = int(port)
    return ports


def gateway_options(f: Callable[..., object]) -> Callable[..., object]:
    defaults = ", ".join(f"{lst.name}={lst.default_port}" for lst in LISTENERS if lst.name in _HTTP_LISTENERS)
    options = [
        click.option("--http-port", "http_ports", multiple=True, metavar="LISTENER=PORT",
                     help=f"Port of a REST listener; 0 picks a free one; repeatable (defaults: {defaults})."),
        click.option("--max-body-mb", type=float, default=DEFAULT_MAX_BODY_BYTES / 2**20, show_default=True,
                     help="Largest JSON request body; larger ones are answered 413."),
        cors_origin_option,
        click.option("--websocket-port", type=click.IntRange(min=0), default=None, metavar="PORT",
                     help="Serve AI Farm's WebSocket workers on this port (0 picks a free one). aifarm up serves"
                          " them on the documented 8765 by default; aifarm gateway only when this is given. Workers send Client-ID and the agent token; the"
                          " original client (no token) needs the controller's --open-legacy aifarm-workers."),
        click.option("--websocket-ping", "websocket_ping", type=click.FloatRange(min=0.1), default=5.0,
                     show_default=True, metavar="SECONDS",
                     help="Ping WebSocket workers this often; one that leaves a ping unanswered for half as long"
                          " is disconnected, and the controller requeues its work after the node's TTL."),
        click.option("--websocket-state", "websocket_state", type=click.Path(path_type=Path), default=None,
                     metavar="FILE",
                     help="Keep the WebSocket workers' node credentials in this file (0600), so a worker is still"
                          " its node after the gateway restarts (aifarm up: <data-dir>/websocket_nodes.json)."),
    ]  # fmt: skip
    for option in reversed(options):
        f = option(f)
    return f


def _max_upload_option(f: Callable[..., object]) -> Callable[..., object]:
    return click.option(
        "--max-upload-mb", envvar="MAX_UPLOAD_MB", type=click.IntRange(min=1),
        default=DEFAULT_MAX_UPLOAD_BYTES >> 20, show_default=True,
        help="Largest upload (a dataset or model file); larger ones are answered 413 and nothing is kept"
             " (env MAX_UPLOAD_MB). Uploads stream: this is not held in memory.",
    )(f)  # fmt: skip


def _binds(kw: dict) -> dict[str, tuple[str, int]]:
    return default_binds(host=str(kw["host"]), ports=_http_ports(kw["http_ports"]))


def _gateway(controller_address: str, kw: dict, *, controller_ca: bytes | None = None,
             tls_files: tuple[Path, Path] | None = None, main_flag: str) -> GatewayPart:  # fmt: skip
    binds = _binds(kw)
    websocket = (str(kw["host"]), int(kw["websocket_port"])) if kw.get("websocket_port") is not None else None
    ports = _rest_ports(binds, main_flag=main_flag)
    if websocket is not None:
        ports.append(PlannedPort("the AI Farm WebSocket listener", *websocket, "--websocket-port PORT"))
    return GatewayPart(controller_address, binds, max_body_bytes=int(float(kw["max_body_mb"]) * 2**20),
                       max_upload_bytes=int(kw["max_upload_mb"]) << 20, cors_policy=kw["cors_policy"],
                       controller_ca=controller_ca, tls_files=tls_files, ports=tuple(ports),
                       websocket_bind=websocket, websocket_ping_seconds=float(kw["websocket_ping"]),
                       websocket_state_file=_resolved(kw.get("websocket_state")))  # fmt: skip


#: How `aifarm up` sets the main REST port, for messages.
_UP_MAIN_FLAG = "--port PORT or --http-port main=PORT"


def _grpc_ports(config: ControllerConfig) -> list[PlannedPort]:
    ports = [PlannedPort("the controller's gRPC port", config.host, config.grpc_port, "--grpc-port PORT")]
    if config.tls_enabled:
        ports.append(PlannedPort("the agents' mutual-TLS port", config.host, config.agent_port, "--agent-port PORT"))
    if config.profiler_grpc_port is not None:
        ports.append(PlannedPort("gswarm's profiler gRPC port", config.host, config.profiler_grpc_port,
                                 "--profiler-grpc-port PORT"))  # fmt: skip
    return ports


def _existing_file(value: Path | None, flag: str) -> Path | None:
    if value is None:
        return None
    if not value.is_file():
        raise click.BadParameter(f"{value} is not a file", param_hint=flag)
    return value.resolve()


def _ca_pem(path: Path | None, flag: str) -> bytes | None:
    if path is None:
        return None
    try:
        return read_ca_file(path)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint=flag) from None


def _checked_bind(host: str, *, tls: bool, insecure: bool, what: str, **how: object) -> None:
    """controller.tls.check_bind, its refusal a usage error (exit 2) before anything starts."""
    from controller.tls import InsecureBind, check_bind

    try:
        check_bind(host, tls=tls, insecure=insecure, what=what, **how)  # type: ignore[arg-type]
    except InsecureBind as exc:
        raise click.UsageError(str(exc)) from None


def _rest_ports(binds: dict[str, tuple[str, int]], *, main_flag: str) -> list[PlannedPort]:
    return [
        PlannedPort(f"the REST listener {name!r}", host, port, main_flag if name == "main" else f"--http-port {name}=PORT")
        for name, (host, port) in binds.items()
    ]


def controller_options(f: Callable[..., object]) -> Callable[..., object]:
    options = [
        click.option("--data-dir", type=click.Path(path_type=Path), default=default_data_dir,
                     help="State directory (env AIFARM_DATA_DIR; default ./.aifarm)."),
        click.option("--host", envvar="API_HOST", default="127.0.0.1", show_default=True,
                     help="Address to bind (env API_HOST)."),
        click.option("--grpc-port", type=int, default=50051, show_default=True, help="gRPC port; 0 picks one."),
        click.option("--database-path", envvar="DATABASE_PATH", type=click.Path(path_type=Path),
                     help="SQLite file (env DATABASE_PATH; default <data-dir>/aifarm.db)."),
        click.option("--models-dir", envvar="MODELS_DIR", type=click.Path(path_type=Path),
                     help="Model registry files (env MODELS_DIR; default <data-dir>/models)."),
        click.option("--datasets-dir", envvar="DATASETS_DIR", type=click.Path(path_type=Path),
                     help="Dataset files (env DATASETS_DIR; default <data-dir>/files/datasets)."),
        click.option("--max-concurrent-sessions", envvar="MAX_CONCURRENT_SESSIONS", type=click.IntRange(min=1),
                     default=1, show_default=True,
                     help="Training sessions (Server Management API) running at once; the rest queue"
                          " (env MAX_CONCURRENT_SESSIONS)."),
        click.option("--concurrency-limit", "concurrency_limits", multiple=True, metavar="GROUP=N",
                     help="Most tasks of a concurrency group placed at once; repeatable."),
        click.option("--api-keys", envvar="API_KEYS", help="Comma-separated API keys (env API_KEYS)."),
        click.option("--agent-token", envvar="AIFARM_AGENT_TOKEN", help="Token agents join with."),
        click.option("--no-auth", is_flag=True, help="Accept calls without keys. Trusted networks only."),
        click.option("--tls", is_flag=True,
                     help="Serve TLS (gRPC and REST) with a certificate from the farm's own CA, generated into"
                          " <data-dir>/pki on first start; clients verify it with <data-dir>/pki/ca.crt."),
        click.option("--tls-cert", type=click.Path(path_type=Path), metavar="FILE",
                     help="Serve TLS with this certificate chain instead (with --tls-key)."),
        click.option("--tls-key", type=click.Path(path_type=Path), metavar="FILE", help="The key of --tls-cert."),
        click.option("--tls-ca", type=click.Path(path_type=Path), metavar="FILE",
                     help="The CA that signed --tls-cert, written to endpoints.json for local clients."),
        click.option("--tls-san", "tls_hosts", multiple=True, metavar="NAME",
                     help="Another host name or address clients use, for the generated certificate; repeatable"
                          " (the bound address, this machine's names and loopback are always in)."),
        click.option("--agent-port", type=int, default=50052, show_default=True,
                     help="With TLS: the port for agents holding a farm certificate (mutual TLS); 0 picks one."),
        click.option("--profiler-grpc-port", type=click.IntRange(-1, 65535), default=8090, show_default=True,
                     metavar="PORT",
                     help="gswarm's profiler gRPC port, where its profiler CLI dials (it sends no credentials:"
                          " --open-legacy gswarm-profiler lets it in from loopback and --trusted-network);"
                          " 0 picks one, -1 serves none."),
        click.option("--profiling-retention-hours", type=click.FloatRange(min=0), default=168.0, show_default=True,
                     metavar="HOURS",
                     help="Profiling frames older than this are deleted (the sessions stay listed); 0 keeps them all."),
        click.option("--insecure", is_flag=True,
                     help="Allow plaintext on a non-loopback --host. Trusted networks only; logged loudly."),
        click.option("--open-legacy", "open_legacy", multiple=True, metavar="GROUP",
                     help="Serve a legacy-open group (e.g. shelby-agents: the original ShelbyCompute agent) to"
                          " callers WITHOUT credentials, from loopback and --trusted-network only; repeatable."
                          " Logged loudly."),
        click.option("--trusted-network", "trusted_networks", multiple=True, metavar="CIDR",
                     help="A network trusted besides loopback: served by --open-legacy groups, and its REST doors'"
                          " X-Forwarded-For believed; repeatable."),
        click.option("--rate-limit-per-minute", "rate_limit_per_minute", type=click.IntRange(min=0), default=None,
                     metavar="N",
                     help="Calls a minute per API key to each service that declares a limit (AI Farm's /api/...:"
                          " 60, as its document says); N sets every such limit to N, 0 turns them off."),
        click.option("--aifactory-url", default=DEFAULT_AIFACTORY_URL, show_default=True, metavar="URL",
                     help="Where AI Factory client processes reach the client service (the aifactory listener's"
                          " /api/v1) to register and report."),
        click.option("--aifactory-backend", type=click.Choice(["aifarm", "slurm"]), default="aifarm", show_default=True,
                     help="Where new client groups run: a task of this farm's agents, or a Slurm batch job."),
        click.option("--aifactory-target", default="", metavar="URL",
                     help="Where client groups send their load when a create names no server_addr."),
        click.option("--slurm-conf", type=click.Path(path_type=Path, dir_okay=False), default=None, metavar="FILE",
                     envvar="SLURM_CONF", help="slurm.conf of the cluster client groups run on (env SLURM_CONF)."),
        click.option("--slurm-partition", default="", metavar="NAME", help="Partition of client groups' Slurm jobs."),
        click.option("--heartbeat-interval", type=float, default=2.0, show_default=True, help="Seconds."),
        click.option("--node-ttl", type=float, default=10.0, show_default=True,
                     help="Seconds without a heartbeat before a node is lost."),
        click.option("--restart-grace", type=float, default=30.0, show_default=True,
                     help="Seconds nodes get to reconnect after a controller restart."),
        click.option("--api-share", type=click.FloatRange(0.05, 1.0), default=0.1, show_default=True,
                     help="Share of the controller's time people's reads (lists, gets) keep while nodes are busy"
                          " reporting and being given work; 1 lets them compete freely."),
        click.option("--log-level", type=click.Choice(LEVELS), default="info", show_default=True),
        _max_upload_option,
    ]  # fmt: skip
    for option in reversed(options):
        f = option(f)
    return f


def _controller_config(kw: dict) -> ControllerConfig:
    if (kw["tls_cert"] is None) != (kw["tls_key"] is None):
        raise click.UsageError("--tls-cert and --tls-key go together")
    if kw["tls_ca"] is not None and kw["tls_cert"] is None:
        raise click.UsageError("--tls-ca names the CA of --tls-cert; with --tls the farm CA is used")
    return ControllerConfig(
        data_dir=kw["data_dir"].resolve(),
        host=kw["host"],
        grpc_port=kw["grpc_port"],
        api_keys=_keys(kw["api_keys"]),
        agent_token=kw["agent_token"] or "",
        no_auth=kw["no_auth"],
        heartbeat_interval_seconds=kw["heartbeat_interval"],
        node_ttl_seconds=kw["node_ttl"],
        restart_grace_seconds=kw["restart_grace"],
        database_path=_resolved(kw["database_path"]),
        models_dir=_resolved(kw["models_dir"]),
        datasets_dir=_resolved(kw["datasets_dir"]),
        concurrency_limits=_limits(kw["concurrency_limits"], kw["max_concurrent_sessions"]),
        max_upload_mb=int(kw["max_upload_mb"]),
        api_share=float(kw["api_share"]),
        tls=bool(kw["tls"]),
        tls_cert=_existing_file(kw["tls_cert"], "--tls-cert"),
        tls_key=_existing_file(kw["tls_key"], "--tls-key"),
        tls_ca=_existing_file(kw["tls_ca"], "--tls-ca"),
        tls_hosts=tuple(kw["tls_hosts"]),
        agent_port=int(kw["agent_port"]),
        profiler_grpc_port=None if int(kw["profiler_grpc_port"]) < 0 else int(kw["profiler_grpc_port"]),
        profiling_retention_hours=float(kw["profiling_retention_hours"]),
        insecure=bool(kw["insecure"]),
        open_legacy=_legacy_groups(kw["open_legacy"]),
        trusted_networks=_trusted_networks(kw["trusted_networks"]),
        rate_limit_per_minute=kw["rate_limit_per_minute"],  # type: ignore[arg-type]
        aifactory_url=kw["aifactory_url"],
        aifactory_backend=kw["aifactory_backend"],
        aifactory_target=kw["aifactory_target"],
        slurm_conf=_resolved(kw["slurm_conf"]),
        slurm_partition=kw["slurm_partition"],
    )


def _legacy_groups(groups: tuple[str, ...]) -> tuple[str, ...]:
    """The groups as given, each one the protos declare (auth.legacy_open)."""
    from controller.api.auth import legacy_methods
    from controller.api.surfaces import all_surfaces

    declared = sorted(set(legacy_methods(b.service for b in all_surfaces()).values()))
    for group in groups:
        if group not in declared:
            raise click.BadParameter(f"no legacy-open group {group!r}; the protos declare: {', '.join(declared)}",
                                     param_hint="--open-legacy")  # fmt: skip
    return tuple(dict.fromkeys(groups))


def _trusted_networks(networks: tuple[str, ...]) -> tuple[str, ...]:
    from controller.api.auth import LegacyAccess

    try:
        LegacyAccess.parse((), networks)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--trusted-network") from None
    return networks


def _resolved(path: Path | None) -> Path | None:
    return path.resolve() if path is not None else None


def _limits(values: tuple[str, ...], max_sessions: int) -> tuple[tuple[str, int], ...]:
    from controller.api.compat.servermgmt.training_servicer import SESSION_GROUP

    limits = {SESSION_GROUP: max_sessions}
    for item in values:
        group, sep, count = item.partition("=")
        if not sep or not group or not count.isdigit() or int(count) < 1:
            raise click.BadParameter(f"expected GROUP=N with N >= 1, got {item!r}", param_hint="--concurrency-limit")
        limits[group] = int(count)
    return tuple(sorted(limits.items()))


async def _until_signalled(main: Callable[[asyncio.Event], Awaitable[T]]) -> T:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    return await main(stop)


async def _serve_controller(config: ControllerConfig, stop: asyncio.Event) -> None:
    """The controller in this process, its endpoints.json written while it serves."""
    written: list[WrittenEndpoints] = []

    def ready(served: ControllerReport) -> None:
        endpoints = Endpoints(grpc=served.address, api_key_file=str(served.api_key_file), tls=served.tls,
                              ca_file=str(served.client_ca_file or ""), grpc_agents=served.agent_address,
                              grpc_profiler=served.profiler_address)  # fmt: skip
        written.append(endpoints.write(config.data_dir))
        ca = f" (TLS; clients trust {endpoints.ca_file})" if endpoints.ca_file else " (TLS)" if endpoints.tls else ""
        click.echo(f"aifarm is up: gRPC {served.address}{ca}; endpoints in {written[0].path}. Ctrl-C stops it.",
                   err=True)  # fmt: skip

    try:
        await ControllerPart(config, tuple(_grpc_ports(config))).serve(stop, ready)
    finally:
        click.echo("shutting down...", err=True)
        for file in written:
            file.remove()


@click.command()
@controller_options
@gateway_options
@click.option("--port", type=int, envvar="API_PORT", default=None,
              help="Port of the main REST listener (env API_PORT); the same as --http-port main=PORT.")
@click.option("--no-agent", is_flag=True, help="Start no local agent.")
@_gswarm_client_option
@click.option("--gateway-workers", type=click.IntRange(min=1), default=None, metavar="N",
              help="REST gateway processes sharing the REST ports (default: one per core this process may use).")
@click.option("--cpu-slots", type=click.IntRange(min=0), default=0, metavar="N",
              help="The local agent advertises exactly N CPU cores (as `aifarm agent --cpu-slots`): N one-core"
                   " tasks run at once. 0: the machine's count.")
def up(no_agent: bool, port: int | None, gateway_workers: int | None, cpu_slots: int, gswarm_client_port: int,
       **kw: object) -> None:  # fmt: skip
    """Run the whole farm locally: controller, REST gateway workers and one agent, in the foreground.

    Each is a process of its own (so REST, gRPC and the agent's work never share an event loop);
    Ctrl-C or SIGTERM stops them all, and if one ends on its own the others are stopped too.
    """
    from cli.farm_supervisor import FarmPlan, default_workers, run_farm

    if port is not None:
        kw["http_ports"] = (f"main={port}", *kw["http_ports"])  # type: ignore[misc]
    configure_logging(str(kw["log_level"]))
    config = _with_local_aifactory_url(_controller_config(kw), _binds(kw))
    kw["websocket_state"] = kw["websocket_state"] or config.data_dir / "websocket_nodes.json"
    if kw["websocket_port"] is None:  # the whole farm serves AI Farm's workers where its document says
        kw["websocket_port"] = WEBSOCKET_PORT
    _checked_bind(config.host, tls=config.tls_enabled, insecure=config.insecure, what="the REST listeners")
    ports = [*_grpc_ports(config), *_rest_ports(_binds(kw), main_flag=_UP_MAIN_FLAG)]
    plan = FarmPlan(controller=ControllerPart(config, tuple(_grpc_ports(config))),
                    gateway=_gateway("", kw, main_flag=_UP_MAIN_FLAG), workers=gateway_workers or default_workers(),
                    agent=None if no_agent else AgentConfig("", "", data_dir=config.data_dir / "agent", cpu_slots=cpu_slots,
                                                            gswarm_client=_gswarm_client(str(kw["host"]), gswarm_client_port)),
                    log_level=str(kw["log_level"]),
                    rest_ports=tuple(_rest_ports(_binds(kw), main_flag=_UP_MAIN_FLAG)))  # fmt: skip
    ports = [*_grpc_ports(config), *plan.gateway.ports]  # the REST ports, and the WebSocket one if served
    with exclusive(config.data_dir, ports):
        code = asyncio.run(_until_signalled(lambda stop: run_farm(plan, stop)))
    if code:
        raise SystemExit(code)


def _with_local_aifactory_url(config: ControllerConfig, binds: dict[str, tuple[str, int]]) -> ControllerConfig:
    """Under `aifarm up`, client processes register at this farm's own aifactory listener."""
    host, port = binds.get("aifactory", ("", 0))
    if config.aifactory_url != DEFAULT_AIFACTORY_URL or not port:
        return config  # given, or a port picked at start (then give --aifactory-url)
    return dataclasses.replace(config, aifactory_url=f"http://{host_port(loopback_for(host), port)}/api/v1")


@click.command()
@controller_options
def controller(**kw: object) -> None:
    """Run only the controller."""
    configure_logging(str(kw["log_level"]))
    config = _controller_config(kw)
    _checked_bind(config.host, tls=config.tls_enabled, insecure=config.insecure, what="the controller's gRPC port",
                  warn=False)  # the controller says so itself
    with exclusive(config.data_dir, _grpc_ports(config)):
        asyncio.run(_until_signalled(lambda stop: _serve_controller(config, stop)))


@click.command()
@click.option("--controller", "controller_address", required=True, envvar="AIFARM_CONTROLLER",
              help="Controller gRPC address HOST:PORT.")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
@gateway_options
@_max_upload_option
@click.option("--controller-ca", type=click.Path(path_type=Path), metavar="FILE", envvar=ENV_CA_FILE,
              help="Speak TLS to the controller, verifying it with this CA (its <data-dir>/pki/ca.crt;"
                   f" env {ENV_CA_FILE}).")
@click.option("--tls-cert", type=click.Path(path_type=Path), metavar="FILE",
              help="Serve HTTPS with this certificate chain (with --tls-key), e.g. the controller's pki/server.crt.")
@click.option("--tls-key", type=click.Path(path_type=Path), metavar="FILE", help="The key of --tls-cert.")
@click.option("--insecure", is_flag=True, help="Allow plain HTTP on a non-loopback --host. Trusted networks only.")
@click.option("--log-level", type=click.Choice(LEVELS), default="info", show_default=True)
def gateway(controller_address: str, log_level: str, controller_ca: Path | None, tls_cert: Path | None,
            tls_key: Path | None, insecure: bool, **kw: object) -> None:  # fmt: skip
    """Run only the REST gateway in front of a controller (API keys pass through to it)."""
    configure_logging(log_level)
    if (tls_cert is None) != (tls_key is None):
        raise click.UsageError("--tls-cert and --tls-key go together")
    tls_files = (_existing_file(tls_cert, "--tls-cert"), _existing_file(tls_key, "--tls-key")) if tls_cert else None
    ca_pem = _ca_pem(controller_ca, "--controller-ca")
    _checked_bind(str(kw["host"]), tls=tls_files is not None, insecure=insecure, what="the REST listeners",
                  tls_flag="--tls-cert/--tls-key")

    door = _gateway(controller_address, kw, controller_ca=ca_pem, tls_files=tls_files,  # type: ignore[arg-type]
                    main_flag="--http-port main=PORT")

    def ready(served: GatewayReport) -> None:
        for name, url in served.urls.items():
            click.echo(f"REST {name}: {url} -> gRPC {controller_address}", err=True)
        for name, url in served.websocket.items():
            click.echo(f"WebSocket {name}: {url} -> gRPC {controller_address}", err=True)

    async def main(stop: asyncio.Event) -> None:
        await door.serve(stop, ready)

    with exclusive(None, list(door.ports)):
        asyncio.run(_until_signalled(main))


#: Where the agent finds its join token when no --token-file is given.
ENV_TOKEN = "AIFARM_AGENT_TOKEN"


def _join_token(token_file: Path | None) -> str:
    """The join token from the file given, else from the environment; never from argv (`ps` would show it)."""
    if token_file is not None:
        try:
            token = token_file.read_text().strip()
        except OSError as exc:
            raise click.BadParameter(f"cannot read {token_file}: {exc.strerror}", param_hint="--token-file") from None
        if not token:
            raise click.BadParameter(f"{token_file} is empty", param_hint="--token-file")
        return token
    token = os.environ.get(ENV_TOKEN, "").strip()
    if not token:
        raise click.UsageError(f"the agent needs the join token: --token-file FILE or env {ENV_TOKEN}"
                               " (the controller keeps it in <data-dir>/agent_token)")  # fmt: skip
    return token


async def _agent_endpoints(node: NodeAgent, job: asyncio.Task[None], data_dir: Path) -> WrittenEndpoints | None:
    """Once the node-local API listens, <agent data-dir>/endpoints.json says where (None: the agent ended first)."""
    ready = asyncio.create_task(node.local_api_ready.wait())
    await asyncio.wait([job, ready], return_when=asyncio.FIRST_COMPLETED)
    ready.cancel()
    if not node.local_api_ready.is_set():
        return None
    return AgentEndpoints(node.node_id, node.local_urls, node.local_grpc).write(data_dir)


@click.command()
@click.option("--controller", "controller_address", required=True, envvar="AIFARM_CONTROLLER",
              help="Controller gRPC address HOST:PORT.")
@click.option("--token-file", type=click.Path(path_type=Path), metavar="FILE",
              help=f"File holding the join token (the controller's <data-dir>/agent_token); else env {ENV_TOKEN}."
                   " Never on the command line, where `ps` shows it.")
@click.option("--ca-file", type=click.Path(path_type=Path), metavar="FILE", envvar=ENV_CA_FILE,
              help="Verify the controller's TLS certificate with this CA (its <data-dir>/pki/ca.crt;"
                   f" env {ENV_CA_FILE}); without it the agent speaks plaintext.")
@click.option("--agent-port", type=int, default=50052, show_default=True,
              help="The controller's mutual-TLS port for nodes holding a farm certificate (its --agent-port),"
                   " on the --controller host.")
@click.option("--data-dir", type=click.Path(path_type=Path), default=Path(".aifarm-agent"), show_default=True,
              help="Where the node id, work directories and dataset cache live.")
@click.option("--label", "labels", multiple=True, help="KEY=VALUE label; repeatable.")
@click.option("--cpus", type=int, default=0, help="Advertise at most this many CPU cores.")
@click.option("--cpu-slots", type=click.IntRange(min=0), default=0, metavar="N",
              help="Advertise exactly N CPU cores, more than the machine has if need be: a task takes one"
                   " unless it asks for more, so N tasks run at once (like Slurm's CPUs= above the real"
                   " count; for work that mostly waits). 0: the machine's count, capped by --cpus.")
@click.option("--memory-mb", type=int, default=0, help="Advertise at most this much memory.")
@click.option("--rendezvous-port", type=click.IntRange(0, 65535), default=0, metavar="PORT",
              help="Port this node offers for hosting rank 0 of a distributed training (torch.distributed's"
                   " rendezvous), reserved while the agent runs. 0: any free one.")
@click.option("--rendezvous-address", default="", metavar="HOST",
              help="Address the other nodes of a distributed training reach this one at. Default: the"
                   " address the controller sees this node's stream come from.")
@_gswarm_client_option
@click.option("--listen-host", default="0.0.0.0", show_default=True, metavar="HOST",
              help="Address the agent's own listeners (the gswarm client API, the model peer port) bind.")
@click.option("--log-level", type=click.Choice(LEVELS), default="info", show_default=True)
def agent(controller_address: str, token_file: Path | None, ca_file: Path | None, agent_port: int, data_dir: Path,
          labels: tuple[str, ...], cpus: int, cpu_slots: int, memory_mb: int, rendezvous_port: int,
          rendezvous_address: str, gswarm_client_port: int, listen_host: str, log_level: str) -> None:  # fmt: skip
    """Run an agent that joins a controller."""
    configure_logging(log_level)
    host = controller_address.rpartition(":")[0]
    config = AgentConfig(controller=controller_address, token=_join_token(token_file), data_dir=data_dir.resolve(),
                         labels=_labels(labels), cpu_cores=cpus, cpu_slots=cpu_slots, memory_mb=memory_mb,
                         ca_pem=_ca_pem(ca_file, "--ca-file"), controller_mtls=f"{host}:{agent_port}",
                         rendezvous_port=rendezvous_port, rendezvous_address=rendezvous_address,
                         gswarm_client=_gswarm_client(listen_host, gswarm_client_port))  # fmt: skip

    async def main(stop: asyncio.Event) -> None:
        from agent.node_agent import NodeAgent

        node = NodeAgent(config)
        job = asyncio.create_task(node.run())
        written = await _agent_endpoints(node, job, config.data_dir)
        await asyncio.wait([job, asyncio.create_task(stop.wait())], return_when=asyncio.FIRST_COMPLETED)
        if written is not None:
            written.remove()
        await node.shutdown()
        job.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await job

    try:
        asyncio.run(_until_signalled(main))
    except AgentError as exc:  # refused by the controller, a data directory in use: say so, no traceback
        raise click.ClickException(str(exc)) from None

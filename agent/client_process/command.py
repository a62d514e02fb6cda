"""``aifarm client-process`` (and ``python -m agent.client_process``): one client group's process."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import click
import structlog

from agent.client_process.process import ClientProcess, ProcessConfig
from cli.log_config import LEVELS, configure_logging

API_KEY_ENV = "AIFARM_API_KEY"


async def _until_signalled(process: ClientProcess) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    return await process.serve(stop)


@click.command("client-process", context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--benchmark-id", type=int, required=True, help="The client group's benchmark id.")
@click.option("--num-clients", type=click.IntRange(min=1), required=True, help="Concurrent load clients per run.")
@click.option("--service-url", default="", metavar="URL",
              help="The client service's base, e.g. http://host:8001/api/v1. Without it the process neither"
                   " registers nor reports.")
@click.option("--server-addr", default="", metavar="URL",
              help="The target the load clients send requests to (a POST /run body may override it).")
@click.option("--host", default="0.0.0.0", show_default=True, help="The address to listen on.")
@click.option("--port", type=click.IntRange(0, 65535), default=9000, show_default=True, help="0: a free port.")
@click.option("--advertise-host", default="",
              help="The host in the address registered with the service. Default: --host unless a wildcard,"
                   " else the IP facing the service, else 127.0.0.1.")
@click.option("--requests-per-client", type=click.IntRange(min=1), default=100, show_default=True)
@click.option("--duration", type=click.FloatRange(min=0), default=0.0, show_default=True,
              help="Seconds each client sends for; 0: send --requests-per-client requests instead.")
@click.option("--request-timeout", type=click.FloatRange(min=0, min_open=True), default=10.0, show_default=True,
              help="Seconds one request may take.")
@click.option("--report-interval", type=click.FloatRange(min=0, min_open=True), default=10.0, show_default=True,
              help="Seconds between figure reports to the service while a run is going.")
@click.option("--ready-file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Written with JSON {\"address\", \"port\"} once the process listens.")
@click.option("--register-timeout", type=click.FloatRange(min=0), default=60.0, show_default=True,
              help="Seconds to keep retrying registration before exiting with an error.")
@click.option("--log-level", type=click.Choice(LEVELS), default="info", show_default=True)
def client_process(log_level: str, **kw: object) -> None:
    """Run one client process of an AI Factory client group: register with the client service,
    then on POST /run drive the load clients against --server-addr.

    AIFARM_API_KEY, when set, is sent as a Bearer token on every call to the service.
    """
    configure_logging(log_level)
    structlog.contextvars.bind_contextvars(benchmark_id=kw["benchmark_id"])
    config = ProcessConfig(api_key=os.environ.get(API_KEY_ENV, ""), **kw)  # type: ignore[arg-type]
    code = asyncio.run(_until_signalled(ClientProcess(config)))
    if code:
        click.echo(f"client-process: could not register with {config.service_url}; exiting", err=True)
        sys.exit(code)

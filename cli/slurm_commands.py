"""`aifarm slurm up` and `aifarm slurm status`: a real local Slurm cluster to develop and test against.

The cluster itself is `cli.slurm_cluster.LocalSlurmCluster`; these commands run it in the
foreground (like `aifarm up`) and leave `<data-dir>/slurm.env` for the shells that use it.
"""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import threading
from pathlib import Path

import click

from cli.data_dir_lock import DataDirBusy, DataDirLock
from cli.holders import describe_process
from cli.slurm_cluster import LocalSlurmCluster, available

ENV_FILE = "slurm.env"
_DATA_DIR = click.option("--data-dir", required=True, type=click.Path(file_okay=False, path_type=Path),
                         help="The cluster's directory: slurm.conf, slurm.env, munge, state, spool, log/.")  # fmt: skip


@click.group()
def slurm() -> None:
    """A local Slurm cluster (Debian's slurm-wlm) for development, CI and tests."""


@slurm.command()
@_DATA_DIR
@click.option("--nodes", type=click.IntRange(1, 64), default=2, show_default=True, help="slurmd daemons: node1..nodeN.")
@click.option("--cpus", type=click.IntRange(1), default=4, show_default=True,
              help="CPUs each node declares (oversubscribed: the machine may have fewer).")  # fmt: skip
def up(data_dir: Path, nodes: int, cpus: int) -> None:
    """Start munged, slurmctld and NODES slurmd in DATA_DIR; run until SIGINT or SIGTERM, then stop them."""
    missing = available()
    if missing:
        raise click.ClickException(missing)
    data_dir = data_dir.resolve()
    lock = DataDirLock(data_dir)
    try:
        lock.acquire()
    except DataDirBusy as exc:
        holder = describe_process(exc.holder_pid) if exc.holder_pid else "another process"
        raise click.ClickException(f"{data_dir} is in use by {holder}: stop it, or pick another --data-dir") from None
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    cluster = LocalSlurmCluster(data_dir, nodes=nodes, cpus_per_node=cpus)
    try:
        try:
            cluster.start()
        except RuntimeError as exc:
            raise click.ClickException(str(exc)) from None
        env_file = data_dir / ENV_FILE
        env_file.write_text("".join(f"export {k}={shlex.quote(v)}\n" for k, v in cluster.slurm_env.items()))
        click.echo(f"Slurm is up: {nodes} node(s) ({', '.join(cluster.node_names)}) of {cpus} CPUs, partition debug.\n"
                   f"In another shell:  . {shlex.quote(str(env_file))}  then  sbatch --wrap hostname; squeue; sinfo\n"
                   f"Logs: {cluster.log_dir}. Ctrl-C (SIGINT) or SIGTERM stops it.")  # fmt: skip
        while not stop.wait(1.0):
            dead = [name for name, p in cluster.procs.items() if p.poll() is not None]
            if dead:
                raise click.ClickException(f"{', '.join(dead)} exited; see {cluster.log_dir}")
        click.echo("stopping Slurm")
    finally:
        cluster.stop()
        (data_dir / ENV_FILE).unlink(missing_ok=True)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        lock.release()


@slurm.command()
@_DATA_DIR
def status(data_dir: Path) -> None:
    """Show the cluster's nodes (sinfo with DATA_DIR's slurm.conf)."""
    conf = data_dir.resolve() / "slurm.conf"
    if not conf.is_file():
        raise click.ClickException(f"no cluster in {data_dir} ({conf} is missing): start one with aifarm slurm up")
    try:
        out = subprocess.run(["sinfo", "-N", "-l"], env={**os.environ, "SLURM_CONF": str(conf)}, timeout=30)
    except FileNotFoundError:
        raise click.ClickException(available() or "sinfo is not on PATH") from None
    except subprocess.TimeoutExpired:
        raise click.ClickException("sinfo did not answer in 30 s: is `aifarm slurm up` running?") from None
    if out.returncode:
        raise SystemExit(out.returncode)

"""A real local Slurm cluster (Debian's slurm-wlm, Slurm 22.05) in one directory, for development, CI and tests.

Everything the cluster needs lives under `root`: its own munged (own key, socket, pid and log, so a
system munged is never touched), `slurmctld -D` and one `slurmd -D -N nodeK` per node, all on
127.0.0.1 with free ports, all processes of their own session (a test's Ctrl-C reaches none of
them; `stop()` ends them). It starts in about a second, without systemd, when run as root:

    with LocalSlurmCluster(tmp_path, nodes=2) as cluster:
        subprocess.run(["sbatch", "--wrap", "true"], env=cluster.env, check=True)

Logs: `root/log/` (the daemons' own log files and what each wrote to stdout and stderr).
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import psutil

#: The binaries a cluster needs; `available()` names the ones missing.
BINARIES = ("munged", "slurmctld", "slurmd", "sbatch", "squeue", "sinfo", "scancel")
INSTALL = "apt-get install -y slurm-wlm"
#: Batch jobs are scheduled when submitted, not up to 3 s later (Slurm's default batch_sched_delay).
DEFAULT_SCHEDULER_PARAMETERS = "batch_sched_delay=0"
#: Seconds a daemon has to end after SIGTERM before it gets SIGKILL.
STOP_TIMEOUT = 10.0
#: Seconds a job's processes have to end after SIGTERM when the cluster stops under them.
JOB_GRACE = 2.0
#: The longest path of a Unix socket (sun_path is 108 bytes with its NUL).
_SUN_PATH_MAX = 107


def available() -> str | None:
    """None when Slurm's binaries are on PATH, else what is missing and how to install it."""
    missing = [tool for tool in BINARIES if not shutil.which(tool)]
    if missing:
        return f"Slurm is not installed ({', '.join(missing)} not on PATH): {INSTALL}"
    return None


def _free_ports(count: int) -> list[int]:
    """`count` distinct free ports on 127.0.0.1 (each socket stays bound until all are picked)."""
    socks = []
    try:
        for _ in range(count):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1.0):
            return True
    except OSError:
        return False


def _tail(path: Path, chars: int = 3000) -> str:
    try:
        return path.read_text(errors="replace")[-chars:]
    except OSError:
        return ""


@dataclass
class LocalSlurmCluster:
    """munged, slurmctld and `nodes` slurmd of `cpus_per_node` CPUs each, all in `root`.

    The CPUs are declared, not counted: `SlurmdParameters=config_overrides` lets a 2-core machine
    run a node of 32 CPUs (oversubscribed), as the benchmark does.
    """

    root: Path
    nodes: int = 2
    cpus_per_node: int = 4
    #: slurm.conf's SchedulerParameters ("": Slurm's defaults).
    scheduler_parameters: str = DEFAULT_SCHEDULER_PARAMETERS
    #: Lines appended to slurm.conf as they are (later settings win).
    extra_conf: str = ""
    procs: dict[str, subprocess.Popen] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.root = Path(self.root).resolve()
        if self.nodes < 1 or self.cpus_per_node < 1:
            raise ValueError("a cluster needs at least one node of at least one CPU")

    # Paths and environment --------------------------------------------------------

    @property
    def conf(self) -> Path:
        return self.root / "slurm.conf"

    @property
    def log_dir(self) -> Path:
        return self.root / "log"

    @property
    def munge_socket(self) -> Path:
        return self.root / "munge" / "munge.sock"

    @property
    def node_names(self) -> list[str]:
        return [f"node{i}" for i in range(1, self.nodes + 1)]

    @property
    def slurm_env(self) -> dict[str, str]:
        """Only what this cluster's clients need: slurm.conf names munge's socket (AuthInfo=socket=...)."""
        return {"SLURM_CONF": str(self.conf)}

    @property
    def env(self) -> dict[str, str]:
        """This process's environment plus `slurm_env`: pass it to sbatch, squeue, scancel, sinfo."""
        return {**os.environ, **self.slurm_env}

    @property
    def pids(self) -> dict[str, int]:
        return {name: p.pid for name, p in self.procs.items()}

    # Starting ---------------------------------------------------------------------

    def start(self, timeout: float = 30.0) -> LocalSlurmCluster:
        """Start every daemon and wait until `sinfo` shows every node idle; on failure, stop them all."""
        missing = available()
        if missing:
            raise RuntimeError(missing)
        if os.geteuid() != 0:
            # slurmd runs jobs as their users and munged's key must be the daemons'; as another
            # user the daemons refuse to start (SlurmUser/SlurmdUser are root here).
            raise RuntimeError("the local Slurm cluster runs its daemons as root: run as root")
        if self.procs:
            raise RuntimeError("this cluster is already started")
        longest = self.root / "spool" / self.node_names[-1] / f"{self.node_names[-1]}_1234567.4294967291"
        if len(os.fsencode(longest)) > _SUN_PATH_MAX:
            # slurmstepd's socket for a job step lives in the node's spool directory.
            raise RuntimeError(f"{self.root} is too long a path for a Slurm cluster's sockets (their paths must stay"
                               f" under {_SUN_PATH_MAX + 1} bytes): choose a shorter directory")  # fmt: skip
        try:
            self._start(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self, timeout: float) -> None:
        root = self.root
        root.mkdir(parents=True, exist_ok=True)
        root.chmod(0o700)
        for sub in ("munge", "state", "log", *(f"spool/{n}" for n in self.node_names)):
            (root / sub).mkdir(mode=0o700, parents=True, exist_ok=True)
        key = root / "munge" / "munge.key"
        key.write_bytes(secrets.token_bytes(1024))
        key.chmod(0o600)
        sock = self.munge_socket
        sock.unlink(missing_ok=True)
        self._spawn("munged", ["munged", "-F", "--force", f"--socket={sock}", f"--key-file={key}",
                               f"--log-file={self.log_dir / 'munged.log'}", f"--pid-file={root / 'munge' / 'pid'}",
                               f"--seed-file={root / 'munge' / 'seed'}"],
                    self.log_dir / "munged.log")  # fmt: skip
        self._wait(sock.exists, timeout, "munged's socket")
        ctld_port, *node_ports = _free_ports(1 + self.nodes)
        self.conf.write_text(self._slurm_conf(ctld_port, node_ports))
        self._spawn("slurmctld", ["slurmctld", "-D", "-i"], self.log_dir / "slurmctld.log")
        # Its port before any sinfo: sinfo retries a controller that is not there for 10 s.
        self._wait(lambda: _listening(ctld_port), timeout, "slurmctld's port")
        for name in self.node_names:
            self._spawn(name, ["slurmd", "-D", "-N", name], self.log_dir / f"slurmd.{name}.log")
        self._wait(self._all_idle, timeout, "every node idle in sinfo")

    def _slurm_conf(self, ctld_port: int, node_ports: list[int]) -> str:
        host = socket.gethostname()
        nodes = "".join(
            f"NodeName={name} NodeHostname={host} NodeAddr=127.0.0.1 Port={port} CPUs={self.cpus_per_node}"
            " RealMemory=1000 State=UNKNOWN\n"
            for name, port in zip(self.node_names, node_ports)
        )
        node_list = ",".join(self.node_names)
        root, log = self.root, self.log_dir
        return f"""\
# Written by cli/slurm_cluster.py: a local cluster, all of it under {root}.
ClusterName=aifarm
SlurmctldHost={host}(127.0.0.1)
SlurmctldPort={ctld_port}
SlurmdPort={node_ports[0]}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket={self.munge_socket}
CredType=cred/munge
StateSaveLocation={root / 'state'}
SlurmdSpoolDir={root / 'spool' / '%n'}
SlurmctldPidFile={root / 'slurmctld.pid'}
SlurmdPidFile={root / 'slurmd.%n.pid'}
SlurmctldLogFile={log / 'slurmctld.log'}
SlurmdLogFile={log / 'slurmd.%n.log'}
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
MailProg=/bin/true
ReturnToService=2
SlurmdParameters=config_overrides
MaxJobCount=100000
MinJobAge=3600
KillWait=2
{nodes}PartitionName=debug Nodes={node_list} Default=YES MaxTime=INFINITE State=UP
""" + (f"SchedulerParameters={self.scheduler_parameters}\n" if self.scheduler_parameters else "") + (
            self.extra_conf.rstrip("\n") + "\n" if self.extra_conf else ""
        )

    def _spawn(self, name: str, argv: list[str], log: Path) -> None:
        out_path = self.log_dir / f"{name}.out"
        with out_path.open("ab") as out:
            proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    env=self.env, cwd=self.root, start_new_session=True)  # fmt: skip
        proc.log_files = (out_path, log)  # type: ignore[attr-defined]
        self.procs[name] = proc

    def _wait(self, ready: Callable[[], bool], timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while True:
            # A dead daemon first: sinfo without a slurmctld retries for MessageTimeout (10 s).
            dead = [name for name, p in self.procs.items() if p.poll() is not None]
            if not dead and ready():
                return
            if dead or time.monotonic() > deadline:
                blame = dead or list(self.procs)
                why = f"{', '.join(dead)} exited" if dead else f"timed out after {timeout:g} s"
                raise RuntimeError(f"the local Slurm cluster did not start ({what}: {why})\n" + self._logs(blame))
            time.sleep(0.1)

    def _logs(self, names: list[str]) -> str:
        parts = []
        for name in names:
            for path in getattr(self.procs[name], "log_files", ()):
                text = _tail(path)
                if text.strip():
                    parts.append(f"--- {name}: {path}\n{text}")
        return "\n".join(parts)

    def node_states(self, timeout: float = 10.0) -> dict[str, str]:
        """Each node's state as sinfo says (idle, allocated, mixed, down*, ...); {} if sinfo fails."""
        try:
            out = subprocess.run(["sinfo", "-h", "-N", "-o", "%N %T"], capture_output=True, text=True,
                                 env=self.env, timeout=timeout)  # fmt: skip
        except subprocess.TimeoutExpired:
            return {}
        if out.returncode != 0:
            return {}
        return dict(line.split(None, 1) for line in out.stdout.splitlines() if line.strip())

    def _all_idle(self) -> bool:
        states = self.node_states(timeout=3.0)  # a daemon that dies meanwhile is noticed soon
        return all(states.get(name) == "idle" for name in self.node_names)

    # Stopping ---------------------------------------------------------------------

    def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        """SIGTERM every daemon (then SIGKILL after `timeout`) and every job step they left; idempotent."""
        procs, self.procs = self.procs, {}
        if not procs:
            return
        steps = self._job_steps()
        order = [n for n in procs if n not in ("slurmctld", "munged")] + ["slurmctld", "munged"]
        for name in order:
            proc = procs.get(name)
            if proc is not None and proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for name in order:
            proc = procs.get(name)
            if proc is None:
                continue
            try:
                proc.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        # A step that started while slurmd was ending is found now.
        _end({*steps, *self._job_steps()})

    def _job_steps(self) -> list[psutil.Process]:
        """This cluster's slurmstepd processes and their jobs' processes.

        slurmd double-forks slurmstepd into a session of its own (init reaps it), and a stepd
        outlives slurmd by design (a restarted slurmd reattaches): ending the daemons ends no job.
        A stepd works in slurmd's directory, `root`; its jobs are its descendants.
        """
        found: list[psutil.Process] = []
        for p in psutil.process_iter():
            try:
                if p.name() == "slurmstepd" and Path(p.cwd()).is_relative_to(self.root):
                    found += [p, *p.children(recursive=True)]
            except psutil.Error:
                continue
        return found

    def __enter__(self) -> LocalSlurmCluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _end(procs: set[psutil.Process], grace: float = JOB_GRACE) -> None:
    """SIGKILL each slurmstepd (it ignores SIGTERM), SIGTERM the jobs, SIGKILL those left after `grace`."""
    for p in procs:
        try:
            p.kill() if p.name() == "slurmstepd" else p.terminate()
        except psutil.Error:
            pass
    _, alive = psutil.wait_procs(procs, timeout=grace)
    for p in alive:
        try:
            p.kill()
        except psutil.Error:
            pass
    psutil.wait_procs(alive, timeout=5)

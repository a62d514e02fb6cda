"""cli.slurm_cluster.LocalSlurmCluster: a real Slurm 22.05 cluster (munged, slurmctld, two slurmd) on 127.0.0.1.

Needs Debian's slurm-wlm and root. Without them these tests skip, except under CI=true, where
they fail: CI installs Slurm (.ci/run), so a missing one there is a bug, not a reason to pass.
Every wait has a deadline; the cluster starts in about a second.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Callable, TypeVar

import psutil
import pytest

from cli.slurm_cluster import LocalSlurmCluster, available

pytestmark = [pytest.mark.slow, pytest.mark.timeout(60)]

T = TypeVar("T")
#: Seconds a job has to show up as RUNNING, and to leave squeue after scancel.
JOB_WAIT = 10.0


def _require_slurm() -> None:
    problem = available()
    if problem is None and os.geteuid() != 0:
        problem = "the local Slurm cluster's daemons run as root, and this user is not root"
    if problem is None:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI=true and {problem}", pytrace=False)
    pytest.skip(problem)


def _wait(predicate: Callable[[], T], timeout: float, what: str) -> T:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(0.1)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalSlurmCluster]:
    _require_slurm()
    with LocalSlurmCluster(tmp_path_factory.mktemp("slurm"), nodes=2, cpus_per_node=4) as c:
        yield c


def _run(cluster: LocalSlurmCluster, *argv: str) -> str:
    out = subprocess.run(argv, env=cluster.env, cwd=cluster.root, capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, f"{' '.join(argv)}: {out.stderr}"
    return out.stdout.strip()


def _sbatch(cluster: LocalSlurmCluster, *args: str, output: str = "/dev/null") -> str:
    return _run(cluster, "sbatch", "--parsable", f"--output={output}", *args).split(";")[0]


def _state(cluster: LocalSlurmCluster, job: str) -> str:
    """squeue's state of the job, "" when squeue no longer lists it among the pending and running."""
    return _run(cluster, "squeue", "-h", "-j", job, "-o", "%T") if job in _queued(cluster) else ""


def _queued(cluster: LocalSlurmCluster) -> list[str]:
    return _run(cluster, "squeue", "-h", "-o", "%i").split()


def test_every_node_is_idle_and_in_partition_debug(cluster: LocalSlurmCluster) -> None:
    lines = _run(cluster, "sinfo", "-h", "-N", "-o", "%N %P %T %c").splitlines()
    assert sorted(lines) == ["node1 debug* idle 4", "node2 debug* idle 4"]
    assert available() is None


def test_a_job_runs_within_seconds_and_scancel_ends_it(cluster: LocalSlurmCluster) -> None:
    job = _sbatch(cluster, "--time=1", "--wrap", "sleep 30")
    _wait(lambda: _state(cluster, job) == "RUNNING", JOB_WAIT, f"job {job} RUNNING in squeue")
    _run(cluster, "scancel", job)
    _wait(lambda: job not in _queued(cluster), JOB_WAIT, f"job {job} to leave squeue after scancel")


def test_jobs_pinned_to_each_node_run_there(cluster: LocalSlurmCluster, tmp_path: Path) -> None:
    jobs = {}
    for node in ("node1", "node2"):
        out = tmp_path / f"{node}.out"
        jobs[node] = (_sbatch(cluster, "-w", node, "--wrap", 'echo "$SLURMD_NODENAME"; sleep 30', output=str(out)), out)
    for node, (job, out) in jobs.items():
        _wait(lambda: _state(cluster, job) == "RUNNING", JOB_WAIT, f"job {job} RUNNING")
        assert _run(cluster, "squeue", "-h", "-j", job, "-o", "%N") == node
        _wait(lambda: out.exists() and out.read_text().strip(), JOB_WAIT, f"{out} written")
        assert out.read_text().strip() == node
    _run(cluster, "scancel", *(job for job, _ in jobs.values()))


def _gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE  # ended; its parent has yet to reap it
    except psutil.NoSuchProcess:
        return True


def test_stop_leaves_no_daemon_nor_job(tmp_path_factory: pytest.TempPathFactory) -> None:
    _require_slurm()
    cluster = LocalSlurmCluster(tmp_path_factory.mktemp("stop"), nodes=2, cpus_per_node=2).start()
    try:
        daemons = cluster.pids
        assert set(daemons) == {"munged", "slurmctld", "node1", "node2"}
        job = _sbatch(cluster, "--wrap", "sleep 30")
        _wait(lambda: _state(cluster, job) == "RUNNING", JOB_WAIT, f"job {job} RUNNING")
        # slurmstepd, the batch script and its sleep: outside the daemons' process trees.
        steps = _wait(lambda: [p.pid for p in cluster._job_steps()] if len(cluster._job_steps()) >= 3 else [],
                      JOB_WAIT, "the job's slurmstepd and processes")  # fmt: skip
    finally:
        started = time.monotonic()
        cluster.stop()
    assert time.monotonic() - started < 15
    left = {pid for pid in [*daemons.values(), *steps] if not _gone(pid)}
    assert not left, [psutil.Process(pid).cmdline() for pid in left]
    cluster.stop()  # idempotent
    assert cluster.pids == {}


def test_a_daemon_that_cannot_start_is_named_with_its_log(tmp_path_factory: pytest.TempPathFactory) -> None:
    _require_slurm()
    cluster = LocalSlurmCluster(tmp_path_factory.mktemp("bad"), nodes=1, extra_conf="SelectType=select/nonexistent")
    with pytest.raises(RuntimeError) as raised:
        cluster.start(timeout=20)
    message = str(raised.value)
    first = message.splitlines()[0]
    assert "slurmctld" in first and "exited" in first
    assert "select/nonexistent" in message  # the tail of slurmctld's log says what it could not load
    assert cluster.pids == {}  # start() stopped munged and the slurmd it had started

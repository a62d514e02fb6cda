"""The `slurm` execution backend of client groups: a group's job is one Slurm batch job.

`sbatch` submits a batch script that starts the client process with the group's settings and
time limit; `squeue`, then `scontrol show job` (Slurm keeps an ended job there for MinJobAge),
say where the job is; `scancel` ends it. The commands run with the farm's `SLURM_CONF`. A Slurm
that is absent or down is an Unavailable naming what failed, never a hang: every command has a
deadline.
"""

from __future__ import annotations

import asyncio
import os
import shlex
import sys
from dataclasses import dataclass, field
from pathlib import Path

import structlog

from controller.domain.client_group_tasks import client_process_args
from controller.domain.client_groups import ClientLaunch, JobStatus
from controller.domain.errors import Unavailable

log = structlog.get_logger(__name__)

COMMAND_TIMEOUT_SECONDS = 20.0
#: squeue's states of a job that has not ended.
LIVE_STATES = frozenset({"PENDING", "CONFIGURING", "RUNNING", "COMPLETING", "SUSPENDED", "REQUEUED", "RESIZING",
                         "SIGNALING", "STAGE_OUT", "STOPPED", "REQUEUE_HOLD", "REQUEUE_FED", "RESV_DEL_HOLD"})  # fmt: skip


@dataclass(frozen=True)
class SlurmSettings:
    #: slurm.conf of the cluster (SLURM_CONF); None: the commands' own default.
    conf: Path | None = None
    partition: str = ""
    #: Where the jobs' output files go (aifactory-<id>_<jobid>.out).
    output_dir: Path = Path("/tmp")
    #: The Python that runs the client process on the allocated node.
    python: str = sys.executable
    #: Given to the client process (AIFARM_API_KEY, exported to the job) so that it may register and report.
    api_key: str = ""
    extra_env: dict[str, str] = field(default_factory=dict)


class SlurmBackend:
    name = "slurm"

    def __init__(self, settings: SlurmSettings) -> None:
        self.settings = settings

    def batch_script(self, launch: ClientLaunch) -> str:
        s = self.settings
        lines = ["#!/bin/bash -l", f"#SBATCH --job-name=aifactory-{launch.benchmark_id}",
                 f"#SBATCH --time={launch.time_limit_minutes}", "#SBATCH --ntasks=1",
                 f"#SBATCH --output={s.output_dir / f'aifactory-{launch.benchmark_id}_%j.out'}"]  # fmt: skip
        if s.partition:
            lines.append(f"#SBATCH --partition={s.partition}")
        command = [s.python, "-m", "agent.client_process", *client_process_args(launch)]
        lines += ["", f"exec {shlex.join(command)}", ""]
        return "\n".join(lines)

    async def submit(self, launch: ClientLaunch) -> str:
        self.settings.output_dir.mkdir(parents=True, exist_ok=True)
        out = await self._run(["sbatch", "--parsable", "--export=ALL"], stdin=self.batch_script(launch))
        job_id = out.strip().split(";")[0]
        if not job_id.isdigit():
            raise Unavailable(f"sbatch answered {out.strip()[:200]!r}, not a job id")
        log.info("slurm job submitted", benchmark_id=launch.benchmark_id, slurm_job_id=job_id)
        return job_id

    async def cancel(self, job_id: str) -> None:
        await self._run(["scancel", job_id])

    async def status(self, job_id: str) -> JobStatus:
        state = (await self._run(["squeue", "-h", "-j", job_id, "-o", "%T"], ok_codes=(0, 1))).strip()
        if state in LIVE_STATES:
            return JobStatus(False, state)
        shown = await self._run(["scontrol", "-o", "show", "job", job_id], ok_codes=(0, 1))
        fields = dict(part.split("=", 1) for part in shown.split() if "=" in part)
        ended = fields.get("JobState", "")
        if ended in LIVE_STATES:
            return JobStatus(False, ended)
        reason = fields.get("Reason", "None")
        return JobStatus(True, f"slurm job {job_id} {ended or 'no longer known to Slurm'}"
                               + (f" ({reason})" if reason not in ("None", "") else ""))  # fmt: skip

    async def _run(self, argv: list[str], *, stdin: str | None = None, ok_codes: tuple[int, ...] = (0,)) -> str:
        env = {**os.environ, **self.settings.extra_env}
        if self.settings.conf is not None:
            env["SLURM_CONF"] = str(self.settings.conf)
        if self.settings.api_key:
            env["AIFARM_API_KEY"] = self.settings.api_key
        try:
            proc = await asyncio.create_subprocess_exec(
                *argv, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
                env=env)  # fmt: skip
        except FileNotFoundError:
            raise Unavailable(f"Slurm is not installed here: {argv[0]} was not found on the PATH (apt-get install"
                              " slurm-wlm, or start the farm with --aifactory-backend aifarm)") from None  # fmt: skip
        try:
            out, err = await asyncio.wait_for(proc.communicate(stdin.encode() if stdin else None), COMMAND_TIMEOUT_SECONDS)
        except asyncio.TimeoutError:
            proc.kill()
            await proc.wait()
            raise Unavailable(f"{argv[0]} did not answer in {COMMAND_TIMEOUT_SECONDS:.0f} s: is slurmctld up?"
                              f" (SLURM_CONF={env.get('SLURM_CONF', 'default')})") from None  # fmt: skip
        if proc.returncode not in ok_codes:
            raise Unavailable(f"{argv[0]} failed ({proc.returncode}): {err.decode(errors='replace').strip()[:300]}"
                              f" (SLURM_CONF={env.get('SLURM_CONF', 'default')})")  # fmt: skip
        return out.decode(errors="replace")

"""The `aifarm` execution backend of client groups: a group's job is a task of aifarm's own agents.

The task is a script run by the agent's own Python that starts the client process
(`python -m agent.client_process`) with the group's settings; its time limit is the group's, so
the agent ends it when the limit passes, as Slurm ends a job. Cancelling the task ends the job.
"""

from __future__ import annotations

import uuid

from controller.domain.client_groups import ClientLaunch, JobStatus
from controller.domain.task_actions import TaskActions
from controller.domain.task_book import TaskBook
from controller.domain.types import Resources, Task
from taskspec.script import ScriptSpec

#: The task's script: the client process, with the arguments the task carries.
CLIENT_PROCESS_SCRIPT = """\
import runpy
import sys

sys.argv = ["aifarm-client-process", *sys.argv[1:]]
runpy.run_module("agent.client_process", run_name="__main__")
"""
BENCHMARK_LABEL = "aifactory.benchmark_id"


def client_process_args(launch: ClientLaunch, *, port: int = 0) -> list[str]:
    """The client process's command line for a launch (every backend starts it the same way)."""
    args = ["--benchmark-id", str(launch.benchmark_id), "--num-clients", str(launch.num_clients),
            "--service-url", launch.service_url, "--port", str(port)]  # fmt: skip
    if launch.server_addr:
        args += ["--server-addr", launch.server_addr]
    return args


class TaskBackend:
    name = "aifarm"

    def __init__(self, book: TaskBook, actions: TaskActions, *, api_key: str = "") -> None:
        self.book = book
        self.actions = actions
        #: Given to the client process (AIFARM_API_KEY) so that it may register and report.
        self.api_key = api_key

    async def submit(self, launch: ClientLaunch) -> str:
        env = {"AIFARM_API_KEY": self.api_key} if self.api_key else {}
        spec = ScriptSpec(source=CLIENT_PROCESS_SCRIPT, entrypoint="client_process.py", interpreter="python",
                          args=tuple(client_process_args(launch)), env=env)  # fmt: skip
        task = Task(id=f"aifactory-{launch.benchmark_id}-{uuid.uuid4().hex[:8]}", spec=spec,
                    display_name=f"AI Factory client group {launch.benchmark_id} ({launch.num_clients} clients)",
                    resources=Resources(cpu_cores=1.0), time_limit_seconds=launch.time_limit_minutes * 60,
                    labels={BENCHMARK_LABEL: str(launch.benchmark_id)})  # fmt: skip
        [created] = await self.actions.create_many([task])
        return created.id

    async def cancel(self, job_id: str) -> None:
        task = await self._task(job_id)
        if task is not None and not task.state.terminal:
            await self.actions.cancel(job_id, "its client group was deleted")

    async def status(self, job_id: str) -> JobStatus:
        task = await self._task(job_id)
        if task is None:
            return JobStatus(True, f"task {job_id} is gone")
        if not task.state.terminal:
            return JobStatus(False, task.state.value)
        why = task.state_reason or task.result.error
        return JobStatus(True, f"task {task.state.value}" + (f": {why}" if why else ""))

    async def _task(self, job_id: str) -> Task | None:
        return self.book.working.get(job_id) or await self.book.store.get_task(job_id)

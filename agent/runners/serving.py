"""Runs a serving task (aifarm.v1.ServingSpec): an inference server process for a model this node
holds, for as long as the task runs. Its port and its request count and latency are the task's
metrics; a server that dies fails the task, and cancelling the task ends the server.
"""

from __future__ import annotations

import asyncio
import importlib.util
import sys

import structlog

from agent.models.errors import ModelOperationError
from agent.models.local_store import LocalModelStore
from agent.runners.base import FinalState, LogSource, Outcome, RunContext, Runner, TaskReporter, task_env
from agent.runners.process import ChildProcess, describe_exit, drain, pump_lines, spawn
from agent.serving.services import RunningService, ServiceBook
from aifarm.v1 import task_pb2
from taskspec.proto import serving_from_proto
from taskspec.serving import BUILT_IN_FRAMEWORK

log = structlog.get_logger(__name__)

#: How long a server may take to load its model and listen.
START_SECONDS = 120.0
#: How often the server's figures are read (and reported, when they changed).
STATUS_SECONDS = 2.0
GRACE_SECONDS = 5.0


def framework_problem(framework: str) -> ModelOperationError | None:
    """Why this node cannot serve with `framework` (None: it can)."""
    if framework == BUILT_IN_FRAMEWORK:
        return None
    if importlib.util.find_spec(framework) is None:
        return ModelOperationError("RESOURCE_UNAVAILABLE", f"framework {framework!r} is not installed on this node"
                                   f" (Python package {framework!r} is missing); built in: {BUILT_IN_FRAMEWORK}")  # fmt: skip
    return ModelOperationError("NOT_IMPLEMENTED", f"framework {framework!r} is installed, but aifarm serves only"
                               f" {BUILT_IN_FRAMEWORK} models so far")  # fmt: skip


class ServingRunner(Runner):
    def __init__(self, spec: task_pb2.ServingSpec, ctx: RunContext, reporter: TaskReporter, store: LocalModelStore,
                 services: ServiceBook) -> None:  # fmt: skip
        self.spec = serving_from_proto(spec)
        self.ctx = ctx
        self.reporter = reporter
        self.store = store
        self.services = services
        self._child: ChildProcess | None = None
        self._ending = False
        self._log = log.bind(task_id=ctx.task_id, model=self.spec.model)

    async def run(self) -> Outcome:
        try:
            argv = self._argv()
        except ModelOperationError as exc:
            self.reporter.log(LogSource.SYSTEM, str(exc))
            return Outcome(FinalState.FAILED, exit_code=1, error=str(exc))
        ready_file = self.ctx.workdir / "port"
        argv += ["--ready-file", str(ready_file)]
        env = task_env(self.ctx, {"PYTHONUNBUFFERED": "1"})
        if self.spec.device.startswith("gpu"):  # served where its holder keeps it: that device, seen as cuda:0
            env["CUDA_VISIBLE_DEVICES"] = self.spec.device.removeprefix("gpu")
        child = self._child = await spawn(argv, cwd=self.ctx.workdir, env=env, registry=self.ctx.children,
                                          task_id=self.ctx.task_id, attempt=self.ctx.attempt)  # fmt: skip
        pumps = [asyncio.create_task(pump_lines(child.proc.stdout, lambda t: self.reporter.log(LogSource.STDOUT, t))),
                 asyncio.create_task(pump_lines(child.proc.stderr, lambda t: self.reporter.log(LogSource.STDERR, t)))]  # fmt: skip
        service = RunningService(self.ctx.task_id, self.spec.model, self.spec.device, self.spec.framework)
        self.services.add(service)
        try:
            return await self._serve(child, service, ready_file)
        finally:
            self.services.remove(self.ctx.task_id)
            if child.running:
                await child.terminate(GRACE_SECONDS)
            child.reap_group()
            await drain(pumps)

    def _argv(self) -> list[str]:
        if problem := framework_problem(self.spec.framework):
            raise problem
        path = self.store.path(self.spec.model, self.spec.device)
        if not path.is_file():
            raise ModelOperationError("MODEL_NOT_FOUND", f"{self.spec.model} is not on {self.spec.device} of this node:"
                                      " download or move it there first")  # fmt: skip
        device = "cuda:0" if self.spec.device.startswith("gpu") else "cpu"
        return [sys.executable, "-m", "agent.serving.torch_server", "--model", str(path), "--port", str(self.spec.port),
                "--host", self.services.host, "--device", device]  # fmt: skip

    async def _serve(self, child: ChildProcess, service: RunningService, ready_file) -> Outcome:  # type: ignore[no-untyped-def]
        loop = asyncio.get_running_loop()
        deadline = loop.time() + START_SECONDS
        while not ready_file.exists():
            if not child.running or loop.time() > deadline:
                return self._ended(child, "before it listened")
            await asyncio.sleep(0.05)
        service.port = int(ready_file.read_text().strip())
        url = f"http://{self.services.local_host}:{service.port}"
        self.reporter.metric(0, {"port": float(service.port)})
        self.reporter.log(LogSource.SYSTEM, f"serving {self.spec.model} from {self.spec.device} at {url}")
        self._log.info("service listening", port=service.port)
        seen: dict[str, float] = {}
        point = 1
        while not await child.wait(STATUS_SECONDS):
            figures = await server_figures(url)
            if figures and figures != seen:
                seen = figures
                self.reporter.metric(point, {"port": float(service.port), **figures})
                point += 1
        return self._ended(child, "while serving")

    def _ended(self, child: ChildProcess, when: str) -> Outcome:
        if self._ending:
            return Outcome(FinalState.CANCELLED, error="service stopped")
        if child.running:
            return Outcome(FinalState.FAILED, exit_code=1, error=f"TASK_FAILED: the server did not listen within"
                                                                f" {START_SECONDS:.0f} s")  # fmt: skip
        code, how = describe_exit(child.proc.returncode or 0)
        return Outcome(FinalState.FAILED, exit_code=code, error=f"TASK_FAILED: the server process {how} {when}")

    async def pause(self) -> None:
        """A service does not pause; stop it instead."""

    async def resume(self) -> None:
        pass

    async def stop(self) -> None:
        await self.cancel()

    async def cancel(self) -> None:
        self._ending = True
        if self._child is not None and self._child.running:
            await self._child.terminate(GRACE_SECONDS)


async def server_figures(url: str) -> dict[str, float]:
    """A server's request count, errors and latency from its /status ({} when it does not answer)."""
    import aiohttp

    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session:
            async with session.get(f"{url}/status") as reply:
                status = await reply.json()
    except (aiohttp.ClientError, asyncio.TimeoutError, ValueError):
        return {}
    latency = status.get("latency_ms", {})
    return {"requests": float(status.get("requests", 0)), "errors": float(status.get("errors", 0)),
            **{f"latency_ms_{k}": float(v) for k, v in latency.items()}}  # fmt: skip

"""Python environments for scripts with requirements: one virtual environment per distinct
requirements text, created on first use and reused after.

An environment is `<root>/<sha256 of the requirements>[:16]`, made with
`python -m venv --without-pip`; a `.pth` file puts the agent's own site-packages
after the environment's, so packages the agent already has (torch, numpy, pip)
are found without being installed again, while what the requirements install
stays inside the environment. A `ready` marker is written last: an environment
without it (an interrupted install) is made again.
"""

from __future__ import annotations

import asyncio
import hashlib
import shutil
import site
import sys
from pathlib import Path
from typing import Callable

import structlog

from agent.errors import RequirementsError
from agent.runners.child_registry import ChildRegistry
from agent.runners.process import drain, pump_lines, spawn

log = structlog.get_logger(__name__)

#: An install that takes longer than this fails (it does not count against the run's time limit).
INSTALL_TIMEOUT_SECONDS = 900.0
_READY = "ready"


def requirements_key(requirements: str) -> str:
    """Identical requirements (ignoring blank lines and surrounding spaces) share an environment."""
    lines = [ln.strip() for ln in requirements.splitlines() if ln.strip()]
    return hashlib.sha256("\n".join(lines).encode("utf-8")).hexdigest()[:16]


class PythonEnvironments:
    """Implements agent.runners.base.Environments."""

    def __init__(self, root: Path, *, install_timeout_seconds: float = INSTALL_TIMEOUT_SECONDS,
                 children: ChildRegistry | None = None) -> None:  # fmt: skip
        self.root = root
        self.install_timeout_seconds = install_timeout_seconds
        #: Where pip and venv are recorded while they run.
        self.children = children
        self._locks: dict[str, asyncio.Lock] = {}

    async def ensure(self, requirements: str, say: Callable[[str], None]) -> Path:
        """The environment's directory, installing the requirements first when it is new.

        `say` gets progress lines (pip's output). Raises RequirementsError.
        """
        key = requirements_key(requirements)
        env = self.root / key
        async with self._locks.setdefault(key, asyncio.Lock()):
            if (env / _READY).exists():
                say(f"reusing the Python environment {key} for these requirements")
                return env
            shutil.rmtree(env, ignore_errors=True)
            say(f"creating the Python environment {key} and installing the requirements")
            try:
                await self._create(env, requirements, say)
            except BaseException:
                shutil.rmtree(env, ignore_errors=True)
                raise
            (env / _READY).write_text(requirements, encoding="utf-8")
            log.info("python environment ready", env=str(env))
            return env

    async def _create(self, env: Path, requirements: str, say: Callable[[str], None]) -> None:
        code = await self._run([sys.executable, "-m", "venv", "--without-pip", str(env)], env.parent, say)
        if code != 0:
            raise RequirementsError(f"could not create a virtual environment (venv exited with code {code})")
        python = env / "bin" / "python"
        purelib = await _site_packages(python)
        inherited = [p for p in (*site.getsitepackages(), site.getusersitepackages()) if Path(p).is_dir()]
        (purelib / "_aifarm_agent_site.pth").write_text("".join(f"{p}\n" for p in inherited), encoding="utf-8")
        (env / "requirements.txt").write_text(requirements, encoding="utf-8")
        argv = [str(python), "-m", "pip", "install", "--disable-pip-version-check", "--no-input",
                "--retries", "2", "--timeout", "30", "-r", "requirements.txt"]  # fmt: skip
        code = await self._run(argv, env, lambda line: say(f"pip: {line}"))
        if code != 0:
            raise RequirementsError(f"could not install the requirements (pip exited with code {code}; see the log)")

    async def _run(self, argv: list[str], cwd: Path, say: Callable[[str], None]) -> int:
        cwd.mkdir(parents=True, exist_ok=True)
        child = await spawn(argv, cwd=cwd, stderr=asyncio.subprocess.STDOUT, registry=self.children)
        proc = child.proc
        assert proc.stdout is not None
        pump = asyncio.create_task(pump_lines(proc.stdout, say))
        try:
            if not await child.wait(self.install_timeout_seconds):
                await child.terminate(5.0)
                raise RequirementsError(f"installing the requirements took over {self.install_timeout_seconds:.0f} s")
        except BaseException:
            child.signal_group(9)
            raise
        finally:
            child.reap_group()
            await drain([pump])
        return proc.returncode or 0


async def _site_packages(python: Path) -> Path:
    proc = await asyncio.create_subprocess_exec(
        str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    out, _ = await proc.communicate()
    path = Path(out.decode().strip())
    if proc.returncode != 0 or not path.is_dir():
        raise RequirementsError(f"cannot find the new environment's site-packages: {out.decode().strip()}")
    return path

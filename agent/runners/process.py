"""Subprocess plumbing the runners share: a child in its own process group, its pipes
read line by line, how it exited, and the hashes of what it left.

`ChildProcess` signals the whole group, so whatever a task spawned is paused or
ended with it; `pump_lines` passes each line on as soon as it is read. Children
die with the agent (`spawn`) and are recorded while they run, so that the next
run of the agent ends what survived this one (agent.runners.child_registry).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import functools
import hashlib
import os
import shutil
import signal
import subprocess
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Callable

from agent.runners.child_registry import AGENT_MARK, ChildRegistry, agent_mark

#: Lines longer than this are passed on in pieces of this size.
MAX_LINE_BYTES = 64 * 1024
#: Seconds between SIGTERM and SIGKILL when a process is asked to end.
DEFAULT_GRACE_SECONDS = 5.0
#: Seconds to wait for the pipes to drain once the process has gone.
_DRAIN_SECONDS = 5.0


class ChildProcess:
    """A subprocess started with `start_new_session=True`, so its pid is its group id.

    Signals go to the whole group, so that whatever the task spawned is paused
    or ended with it.
    """

    def __init__(self, proc: asyncio.subprocess.Process, registry: ChildRegistry | None = None) -> None:
        self.proc = proc
        self._registry = registry

    @property
    def running(self) -> bool:
        return self.proc.returncode is None

    def signal_group(self, sig: int) -> None:
        """Send `sig` to the group; a no-op once the leader has been reaped."""
        if self.running:
            _killpg(self.proc.pid, sig)

    async def wait(self, timeout: float | None) -> bool:
        """Wait for the leader to exit; False when `timeout` passed first."""
        try:
            await asyncio.wait_for(self.proc.wait(), timeout)
        except TimeoutError:
            return False
        return True

    async def terminate(self, grace: float) -> None:
        """SIGTERM the group, then SIGKILL it if the leader outlives `grace` seconds."""
        self.signal_group(signal.SIGTERM)
        # A stopped process only acts on SIGTERM once it runs again.
        self.signal_group(signal.SIGCONT)
        if not await self.wait(grace):
            self.signal_group(signal.SIGKILL)
            await self.proc.wait()

    def reap_group(self) -> None:
        """Kill what the task left running in its group after the leader exited, and forget the child.

        Leftovers would keep the pipes open and outlive the attempt.
        """
        _killpg(self.proc.pid, signal.SIGKILL)
        if self._registry is not None:
            self._registry.forget(self.proc.pid)


def _killpg(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


async def pump_lines(stream: asyncio.StreamReader, emit: Callable[[str], None]) -> None:
    """Pass each line of `stream` to `emit` as soon as it is read, without its newline.

    Decodes UTF-8 with replacement; lines over `MAX_LINE_BYTES` are split.
    Reads chunks rather than `readline()`, which raises on over-long lines.
    """
    pending = b""
    while chunk := await stream.read(MAX_LINE_BYTES):
        pending += chunk
        *lines, pending = pending.split(b"\n")
        for line in lines:
            _emit_pieces(line, emit)
        while len(pending) >= MAX_LINE_BYTES:
            emit(_decode(pending[:MAX_LINE_BYTES]))
            pending = pending[MAX_LINE_BYTES:]
    if pending:
        _emit_pieces(pending, emit)


def _emit_pieces(line: bytes, emit: Callable[[str], None]) -> None:
    line = line.removesuffix(b"\r")
    if not line:
        emit("")
    for start in range(0, len(line), MAX_LINE_BYTES):
        emit(_decode(line[start : start + MAX_LINE_BYTES]))


def _decode(data: bytes) -> str:
    return data.decode("utf-8", errors="replace")


async def drain(pumps: list[asyncio.Task[None]]) -> None:
    """Let the pipe readers finish; give up on them after `_DRAIN_SECONDS`."""
    _, pending = await asyncio.wait(pumps, timeout=_DRAIN_SECONDS)
    for task in pending:
        task.cancel()


def hash_outputs(root: Path, exclude: frozenset[str] = frozenset()) -> str:
    """sha256 over the regular files under `root`; "" when there are none.

    Scheme: files are taken in sorted order of their POSIX path relative to
    `root` (relative paths in `exclude` are skipped; symbolic links are neither
    followed nor hashed). For each file the digest is fed
    `path as UTF-8` + b"\\0" + `size as 8-byte big-endian` + `content`.
    The size prefix makes the encoding unambiguous.
    """
    files = sorted(
        (path.relative_to(root).as_posix(), path)
        for path in root.rglob("*")
        if path.is_file() and not path.is_symlink()
    )
    files = [(rel, path) for rel, path in files if rel not in exclude]
    if not files:
        return ""
    digest = hashlib.sha256()
    for rel, path in files:
        digest.update(rel.encode("utf-8") + b"\0")
        digest.update(path.stat().st_size.to_bytes(8, "big"))
        _feed_file(digest, path)
    return digest.hexdigest()


def sha256_file(path: Path) -> str:
    """sha256 of one file's content."""
    digest = hashlib.sha256()
    _feed_file(digest, path)
    return digest.hexdigest()


def _feed_file(digest: Any, path: Path) -> None:
    with path.open("rb") as f:
        while block := f.read(1 << 20):
            digest.update(block)


def describe_exit(returncode: int) -> tuple[int, str]:
    """(exit code to report, description) of a returncode; signals read as 128+N."""
    if returncode >= 0:
        return returncode, f"exited with code {returncode}"
    signum = -returncode
    try:
        name = signal.Signals(signum).name
    except ValueError:
        name = f"signal {signum}"
    return 128 + signum, f"killed by signal {name} ({signum})"


#: Run as `python -I -S -c _TRAMPOLINE <agent pid> <argv...>`: asks the kernel for SIGKILL when the
#: agent dies (PR_SET_PDEATHSIG is 1; the setting survives exec), then becomes the task's process.
#: Used only where util-linux's `setpriv` is missing: a Python start costs about 15 ms of CPU, the
#: whole cost of a trivial task, where setpriv (C) costs about one.
_TRAMPOLINE = """\
import ctypes, os, sys
if ctypes.CDLL(None, use_errno=True).prctl(1, 9, 0, 0, 0) != 0:
    sys.exit("aifarm agent: prctl(PR_SET_PDEATHSIG) failed: " + os.strerror(ctypes.get_errno()))
if os.getppid() != int(sys.argv[1]):
    os._exit(137)  # the agent died before the signal was armed: it will never come
try:
    os.execvp(sys.argv[2], sys.argv[2:])
except OSError as e:
    print(f"aifarm agent: cannot start {sys.argv[2]}: {e}", file=sys.stderr)
    os._exit(127 if isinstance(e, FileNotFoundError) else 126)  # as setpriv and shells do
"""


@functools.cache
def _setpriv() -> str | None:
    """util-linux's setpriv, when it is there and knows --pdeathsig (util-linux 2.33 and later)."""
    found = shutil.which("setpriv")
    if found is None:
        return None
    try:
        probe = subprocess.run([found, "--pdeathsig", "KILL", "--", "true"], capture_output=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return found if probe.returncode == 0 else None


def _dying_with_agent(argv: list[str], env: dict[str, str] | None, cwd: Path) -> list[str]:
    """`argv` started so that it gets SIGKILL when the agent dies (on Linux; elsewhere `argv` as is).

    The kernel sends a parent-death signal when the *thread* that forked the child ends, not
    the process, so children must be started from a thread that lives as long as the agent:
    `spawn` runs on the event loop's thread, and asyncio forks there. The signal is armed in
    the child by `setpriv --pdeathsig KILL` (or the Python trampoline where setpriv is
    missing), which then execs `argv`, not by a preexec_fn: running Python in a forked child
    of a process with gRPC's threads can crash the child or stall gRPC, and without a
    preexec_fn the child is started with vfork, which runs no fork handlers. The trampoline
    also ends a child whose agent died before the signal was armed; with setpriv that
    window (the child's first millisecond) is closed by the keeper's sweep instead, which
    ends whatever carries the agent's mark (`AGENT_MARK`) in its environment.

    Raises FileNotFoundError or PermissionError, as an exec would, when `argv[0]` is a path that
    cannot be run. A name looked up on the PATH is not looked up here (that walk was a twentieth of
    the agent's time on trivial tasks): when it is not found, the child exits with 127 (as from a
    shell), and `missing_program` tells that apart from a program that exited with 127 itself.
    """
    if not sys.platform.startswith("linux"):
        return argv
    program = argv[0]
    if "/" in program:
        target = cwd / program
        if not target.is_file():
            raise FileNotFoundError(errno.ENOENT, "no such file", program)
        if not os.access(target, os.X_OK):
            raise PermissionError(errno.EACCES, "not executable", program)
    if (setpriv := _setpriv()) is not None:
        return [setpriv, "--pdeathsig", "KILL", "--", *argv]
    return [sys.executable, "-I", "-S", "-c", _TRAMPOLINE, str(os.getpid()), *argv]


#: The exit code of a child whose program was not found (setpriv's, the trampoline's, a shell's).
NOT_FOUND_EXIT = 127


def missing_program(argv: list[str], returncode: int, env: dict[str, str] | None) -> bool:
    """Whether a child that exited with `returncode` did so because its program is not on its PATH."""
    if returncode != NOT_FOUND_EXIT or "/" in argv[0] or not sys.platform.startswith("linux"):
        return False
    return shutil.which(argv[0], path=(env if env is not None else os.environ).get("PATH", os.defpath)) is None


@contextlib.contextmanager
def children_watched_by_pidfds() -> Iterator[None]:
    """While in it, asyncio learns of the running loop's children's exits from pidfds, as Python
    3.12 does by itself; the watcher before is put back on the way out.

    Python 3.11's default watcher starts a thread per child to wait for it, and the loop waits for
    each thread to start: on trivial tasks that was a tenth of the agent's time. A pidfd is one
    more file descriptor on the loop's selector. A no-op on 3.12+ and where there are no pidfds.
    """
    if sys.version_info >= (3, 12) or not hasattr(os, "pidfd_open"):
        yield
        return
    try:
        os.close(os.pidfd_open(os.getpid()))
    except OSError:
        yield  # a kernel before 5.3
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        before = asyncio.get_child_watcher()
        watcher = asyncio.PidfdChildWatcher()
        watcher.attach_loop(asyncio.get_running_loop())
        asyncio.set_child_watcher(watcher)
    try:
        yield
    finally:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            asyncio.set_child_watcher(before)


@functools.cache
def _own_mark() -> str:
    return agent_mark(os.getpid())


async def spawn(
    argv: list[str],
    *,
    cwd: Path,
    env: dict[str, str] | None = None,
    stdin: int = asyncio.subprocess.DEVNULL,
    stderr: int = asyncio.subprocess.PIPE,
    registry: ChildRegistry | None = None,
    task_id: str = "",
    attempt: int = 0,
) -> ChildProcess:
    """Start `argv` in a session of its own (its pid is its group id), stdout piped; raises OSError.

    The child gets SIGKILL when the agent dies (`_dying_with_agent`), and is recorded in
    `registry` (as running for `task_id`/`attempt`) until `ChildProcess.reap_group`, so that
    the agent's next run ends whatever of its session is left (its own children).
    """
    # The agent's mark, for the keeper to find whatever this child starts (agent.runners.child_registry).
    env = {**(env if env is not None else os.environ), AGENT_MARK: _own_mark()}
    proc = await asyncio.create_subprocess_exec(
        *_dying_with_agent(argv, env, cwd), cwd=cwd, env=env, stdin=stdin, stdout=asyncio.subprocess.PIPE,
        stderr=stderr, start_new_session=True,
    )  # fmt: skip
    if registry is not None:
        registry.record(proc.pid, task_id, attempt, " ".join(argv))
    return ChildProcess(proc, registry)

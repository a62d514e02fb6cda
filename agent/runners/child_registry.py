"""The processes this agent started, recorded in its data directory, so that its next run can end
whatever outlived this one.

Task processes get a parent-death signal (agent.runners.process.spawn), so they die with the
agent. What that cannot reach: whatever a task's process started itself (a script's children
keep running after the agent and the script are gone); they stay in the script's session,
though. So each child is recorded while it runs, as `<pid>.json` here: its pid (also its
process group and session id: it starts a session of its own), its start time
(/proc/<pid>/stat field 22, clock ticks since boot), the boot id, the agent's pid, and the
attempt it runs.

`sweep()`: for each record of this boot whose leader is gone or is still the same process (the
same start time; another start time is a reused pid, left alone), every process still in the
recorded session is killed with SIGKILL, waited for, and reported. Two callers:

* the keeper (`start_keeper`, agent.runners.keeper), a small process the agent starts that
  waits on a pipe only the agent holds open: when the agent dies, however it dies, the pipe
  closes and the keeper sweeps the records of that agent at once;
* the agent itself when it starts, for whatever a previous run left (its keeper killed too).

Records are written once the child has started, so a child the agent started in the moment
before it died may have none. Every task process therefore also carries the agent's mark in its
environment (`AGENT_MARK`: which run of which agent started it), inherited by whatever it starts,
and the keeper's sweep also ends every process that carries its agent's mark.

The records are not synced: they must outlive the agent, not the machine; after a reboot no
process they name exists (the boot id tells).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import structlog

log = structlog.get_logger(__name__)

#: The environment variable every task process carries: "<agent pid>-<agent start time>".
AGENT_MARK = "AIFARM_AGENT_RUN"
#: Seconds the sweep waits for the processes it killed to be gone.
SWEEP_WAIT_SECONDS = 5.0
#: The directory holding the `agent` package, put on the keeper's PYTHONPATH.
_REPO_ROOT = str(Path(__file__).resolve().parents[2])


@dataclass(frozen=True)
class Leftover:
    """A process from a previous run of the agent that the sweep ended."""

    pid: int
    #: The recorded child whose session it was in (itself, when it is that child).
    leader_pid: int
    task_id: str
    attempt: int
    command: str


@dataclass(frozen=True)
class _Stat:
    pid: int
    state: str
    session: int
    start_time: int


def _stat(pid: int) -> _Stat | None:
    """/proc/<pid>/stat, or None when the process is gone (or this is not Linux)."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return None
    # Field 2 (the command) is in parentheses and may hold anything: split after the last ')'.
    fields = raw[raw.rindex(b")") + 2 :].split()
    # fields[0] is field 3 (state); field 6 (session) is fields[3], field 22 (starttime) fields[19].
    return _Stat(pid, fields[0].decode(), int(fields[3]), int(fields[19]))


def _all_processes() -> list[_Stat]:
    found = []
    for entry in os.scandir("/proc"):
        if entry.name.isdigit() and (stat := _stat(int(entry.name))) is not None:
            found.append(stat)
    return found


def _boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""


def _command(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return ""


def start_time(pid: int) -> int | None:
    """The process's start time in clock ticks since boot; None when it is gone."""
    stat = _stat(pid)
    return stat.start_time if stat is not None else None


def agent_mark(pid: int) -> str:
    """The mark of the run of the agent with pid `pid` ("" when it is gone)."""
    started = start_time(pid)
    return f"{pid}-{started}" if started is not None else ""


def _carrying(entry: bytes) -> list[int]:
    """The pids of the live processes whose environment holds `entry` (b"NAME=value")."""
    found = []
    for proc in os.scandir("/proc"):
        if not proc.name.isdigit():
            continue
        try:
            environ = Path(f"/proc/{proc.name}/environ").read_bytes()
        except OSError:
            continue  # gone, or not ours to read
        if environ.startswith(entry + b"\0") or b"\0" + entry + b"\0" in environ or environ == entry:
            found.append(int(proc.name))
    return found


class ChildRegistry:
    """Records in `directory` (one file per running child)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._enabled = sys.platform.startswith("linux")

    def record(self, pid: int, task_id: str = "", attempt: int = 0, command: str = "") -> None:
        """Note a child that has just been started in a session of its own."""
        if not self._enabled or (started := start_time(pid)) is None:
            return  # gone already: nothing to end later
        entry = {"pid": pid, "start_time": started, "boot_id": _boot_id(), "agent": os.getpid(),
                 "task_id": task_id, "attempt": attempt, "command": command[:200]}  # fmt: skip
        self.directory.mkdir(parents=True, exist_ok=True)
        tmp = self.directory / f".{pid}.json.tmp"
        try:
            tmp.write_text(json.dumps(entry))
            tmp.replace(self.directory / f"{pid}.json")
        except OSError as exc:
            log.warning("cannot record a task process; if the agent dies, it is not ended at the next start",
                        pid=pid, error=str(exc))  # fmt: skip

    def forget(self, pid: int) -> None:
        """The child and its session are done with."""
        with contextlib.suppress(OSError):
            (self.directory / f"{pid}.json").unlink()

    def sweep(self, agent: int | None = None, mark: str = "") -> list[Leftover]:
        """End every recorded process left running (of the agent with pid `agent` only, if given),
        then every process carrying the agent's `mark` (if given); what was ended. See the module's
        docstring."""
        records = [(path, rec) for path, rec in self._records() if agent is None or rec.get("agent", agent) == agent]
        ended = self._sweep_records(records) if records else []
        if mark and self._enabled:
            ended += self._end_marked(mark, {left.pid for left in ended})
        return ended

    def _sweep_records(self, records: list[tuple[Path, dict]]) -> list[Leftover]:
        boot, mine = _boot_id(), os.getsid(0)
        processes = _all_processes()
        ended: list[Leftover] = []
        for path, rec in records:
            pid, started = int(rec["pid"]), int(rec["start_time"])
            leader = next((p for p in processes if p.pid == pid), None)
            stale = (rec.get("boot_id") != boot or pid == mine
                     or (leader is not None and leader.start_time != started))  # fmt: skip
            if not stale:
                ended += self._end_session(pid, started, str(rec.get("task_id", "")), int(rec.get("attempt", 0)))
            with contextlib.suppress(OSError):
                path.unlink()
        return ended

    def _end_marked(self, mark: str, known: set[int]) -> list[Leftover]:
        """SIGKILL every process carrying `mark` until none is left (the agent's children that have no record)."""
        entry = f"{AGENT_MARK}={mark}".encode()
        me = os.getpid()
        ended: dict[int, Leftover] = {}
        deadline = time.monotonic() + SWEEP_WAIT_SECONDS
        while (pids := [pid for pid in _carrying(entry) if pid != me]) and time.monotonic() < deadline:
            for pid in pids:
                if pid not in ended and pid not in known:
                    ended[pid] = Leftover(pid, pid, "", 0, _command(pid))
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.02)
        return list(ended.values())

    def _records(self) -> list[tuple[Path, dict]]:
        if not self._enabled or not self.directory.is_dir():
            return []
        found = []
        for path in sorted(self.directory.glob("*.json")):
            try:
                found.append((path, json.loads(path.read_text())))
            except (OSError, ValueError):
                with contextlib.suppress(OSError):
                    path.unlink()
        return found

    def _end_session(self, leader: int, started: int, task_id: str, attempt: int) -> list[Leftover]:
        """SIGKILL every live process of the session `leader` started (those started since), until none is left."""
        me = os.getpid()
        ended: dict[int, Leftover] = {}
        deadline = time.monotonic() + SWEEP_WAIT_SECONDS
        while True:
            members = [p for p in _all_processes()
                       if p.session == leader and p.start_time >= started and p.state != "Z" and p.pid != me]
            if not members or time.monotonic() > deadline:
                break
            for p in members:
                if p.pid not in ended:
                    ended[p.pid] = Leftover(p.pid, leader, task_id, attempt, _command(p.pid))
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(p.pid, signal.SIGKILL)
            time.sleep(0.02)
        return list(ended.values())

    def start_keeper(self) -> Keeper | None:
        """Start the process that sweeps this agent's records the moment the agent dies (Linux only)."""
        if not self._enabled:
            return None
        self.directory.mkdir(parents=True, exist_ok=True)
        read_end, write_end = os.pipe()  # not inherited: only the agent holds the write end
        # The package is normally installed; this keeps a plain checkout working too.
        path = os.pathsep.join(p for p in (_REPO_ROOT, os.environ.get("PYTHONPATH")) if p)
        argv = [sys.executable, "-m", "agent.runners.keeper", str(self.directory), str(os.getpid()),
                agent_mark(os.getpid())]
        try:
            proc = subprocess.Popen(argv, stdin=read_end, stdout=subprocess.DEVNULL,
                                    env={**os.environ, "PYTHONPATH": path}, start_new_session=True)  # fmt: skip
        except OSError as exc:
            os.close(write_end)
            log.warning("cannot start the keeper; processes a task started survive a crash of the agent until "
                        "its next start", error=str(exc))  # fmt: skip
            return None
        finally:
            os.close(read_end)
        return Keeper(proc, write_end)


class Keeper:
    """The agent's end of its keeper: `close()` (or the agent's death) lets it sweep and exit."""

    def __init__(self, proc: subprocess.Popen[bytes], write_end: int) -> None:
        self.proc = proc
        self._write_end = write_end

    def close(self, timeout: float = 5.0) -> None:
        """Let the keeper go (it sweeps what is left, normally nothing) and reap it; safe to call twice."""
        if self._write_end >= 0:
            os.close(self._write_end)
            self._write_end = -1
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout)

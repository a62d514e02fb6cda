"""Task processes do not outlive their agent unseen: they get SIGKILL when the agent dies, and
what they started themselves is ended by the agent's next run (the records in its data dir).

A stand-in agent here is a small Python process that starts children the way the agent
does (agent.runners.process.spawn, on its event loop's thread) and is then SIGKILLed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from agent.runners import child_registry
from agent.runners.child_registry import ChildRegistry, start_time

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="parent-death signals and /proc are Linux")

REPO = Path(__file__).resolve().parents[2]


def alive(pid: int) -> bool:
    """Running (a zombie waiting for its reaper is not)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def gone_within(pid: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def stand_in_agent(tmp_path: Path, script: str, registry: Path | None = None,
                   keeper: bool = False) -> tuple[subprocess.Popen, list[int]]:  # fmt: skip
    """Start a process that spawns `bash -c script` as the agent spawns a task (recorded in `registry`, with
    a keeper if `keeper`); (it, the pids the script printed)."""
    code = textwrap.dedent(f"""
        import asyncio, pathlib, sys
        from agent.runners.child_registry import ChildRegistry
        from agent.runners.process import spawn

        async def main():
            registry = {f"ChildRegistry(pathlib.Path({str(registry)!r}))" if registry else None}
            keeper = registry.start_keeper() if {keeper} else None
            child = await spawn(["bash", "-c", {script!r}], cwd=pathlib.Path({str(tmp_path)!r}),
                                registry=registry, task_id="t1", attempt=3)
            while line := await child.proc.stdout.readline():
                sys.stdout.write(line.decode())
                sys.stdout.flush()
            await asyncio.sleep(3600)

        asyncio.run(main())
    """)
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)  # fmt: skip
    assert proc.stdout is not None
    pids = [int(proc.stdout.readline()) for _ in range(script.count("echo"))]
    return proc, pids


def kill(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)


def test_a_task_process_gets_sigkill_when_its_agent_is_killed(tmp_path: Path) -> None:
    agent, [task] = stand_in_agent(tmp_path, "echo $$; exec sleep 120")
    try:
        assert alive(task)
        kill(agent)
        assert gone_within(task, 2.0), "the task process outlived its agent"
    finally:
        os.kill(task, signal.SIGKILL) if alive(task) else None


def test_what_a_task_started_is_ended_by_the_agents_next_run(tmp_path: Path) -> None:
    records = tmp_path / "children"
    agent, [leader, grandchild] = stand_in_agent(tmp_path, "echo $$; sleep 300 & echo $!; wait", records)
    try:
        assert [p.name for p in records.iterdir()] == [f"{leader}.json"]
        kill(agent)
        assert gone_within(leader, 2.0)
        time.sleep(0.2)
        assert alive(grandchild), "the parent-death signal reaches only the child itself"

        ended = ChildRegistry(records).sweep()  # the agent's next run
        assert gone_within(grandchild, 2.0)
        assert [(e.pid, e.leader_pid, e.task_id, e.attempt) for e in ended] == [(grandchild, leader, "t1", 3)]
        assert "sleep 300" in ended[0].command
        assert list(records.iterdir()) == []
        assert ChildRegistry(records).sweep() == []
    finally:
        for pid in (leader, grandchild):
            if alive(pid):
                os.kill(pid, signal.SIGKILL)


def test_the_keeper_ends_what_a_task_started_the_moment_its_agent_dies(tmp_path: Path) -> None:
    records = tmp_path / "children"
    agent, [leader, grandchild] = stand_in_agent(tmp_path, "echo $$; sleep 300 & echo $!; wait", records, keeper=True)
    try:
        kill(agent)
        assert gone_within(leader, 2.0) and gone_within(grandchild, 2.0)
        assert agent.stderr is not None
        said = agent.stderr.read()
        assert f"ended process {grandchild} of task t1 attempt 3: sleep 300" in said
        assert list(records.iterdir()) == []
    finally:
        for pid in (leader, grandchild):
            if alive(pid):
                os.kill(pid, signal.SIGKILL)


def test_the_keeper_ends_what_left_the_tasks_session_by_the_agents_mark(tmp_path: Path) -> None:
    """A process no record names (here one that started a session of its own; likewise a child the
    agent started in the moment before it died) carries the agent's mark, and the keeper ends it."""
    records = tmp_path / "children"
    script = "echo $$; setsid sleep 301 & sleep 0.2; echo $(pgrep -f -x 'sleep 301' | head -1); wait"
    agent, [leader, escaped] = stand_in_agent(tmp_path, script, records, keeper=True)
    try:
        environ = Path(f"/proc/{escaped}/environ").read_bytes().split(b"\0")
        assert f"{child_registry.AGENT_MARK}={child_registry.agent_mark(agent.pid)}".encode() in environ
        assert Path(f"/proc/{escaped}/stat").read_text().rsplit(")", 1)[1].split()[3] != str(leader), "own session"
        kill(agent)
        assert gone_within(leader, 2.0) and gone_within(escaped, 3.0), "the escaped process outlived its agent"
    finally:
        for pid in (leader, escaped):
            if alive(pid):
                os.kill(pid, signal.SIGKILL)


def test_a_keeper_whose_agent_died_while_it_started_still_ends_what_carries_the_mark(tmp_path: Path) -> None:
    """On a loaded machine the agent can die before its keeper has imported Python: the keeper ends
    by the mark the agent gave it, not by one it would look up from a pid already gone."""
    mark = f"{os.getpid()}-{start_time(os.getpid())}"
    marked = subprocess.Popen(["sleep", "302"], start_new_session=True, env={**os.environ, child_registry.AGENT_MARK: mark})
    gone_agent = subprocess.Popen(["true"])
    gone_agent.wait()
    try:
        keeper = subprocess.run([sys.executable, "-m", "agent.runners.keeper", str(tmp_path), str(gone_agent.pid), mark],
                                cwd=REPO, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60)  # fmt: skip
        assert keeper.returncode == 0, keeper.stderr
        assert marked.wait(timeout=5) == -signal.SIGKILL
        assert f"ended process {marked.pid} of task - attempt 0: sleep 302" in keeper.stderr
    finally:
        marked.kill()
        marked.wait()


def test_a_keeper_ends_nothing_of_another_agent(tmp_path: Path, session_leader) -> None:
    _record(tmp_path, session_leader.pid, agent=os.getpid() + 1)
    keeper = ChildRegistry(tmp_path).start_keeper()
    assert keeper is not None
    keeper.close()  # as if this agent died: its keeper sweeps this agent's records only
    assert keeper.proc.returncode == 0
    assert session_leader.poll() is None and len(list(tmp_path.glob("*.json"))) == 1
    assert [e.pid for e in ChildRegistry(tmp_path).sweep()] == [session_leader.pid], "the next start ends it"


def _record(records: Path, pid: int, **changes: object) -> None:
    records.mkdir(exist_ok=True)
    entry = {"pid": pid, "start_time": start_time(pid), "boot_id": child_registry._boot_id(), "task_id": "t",
             "attempt": 1, "command": "sleep"} | changes  # fmt: skip
    (records / f"{pid}.json").write_text(json.dumps(entry))


@pytest.fixture
def session_leader() -> subprocess.Popen:
    proc = subprocess.Popen(["sleep", "120"], start_new_session=True)
    yield proc
    proc.kill()
    proc.wait()


def test_a_recorded_child_still_running_is_ended_with_its_session(tmp_path: Path, session_leader) -> None:
    _record(tmp_path, session_leader.pid)
    ended = ChildRegistry(tmp_path).sweep()
    assert [e.pid for e in ended] == [session_leader.pid]
    assert session_leader.wait(timeout=5) == -signal.SIGKILL


@pytest.mark.parametrize("changes", [{"start_time": -1}, {"boot_id": "another boot"}], ids=["pid reused", "rebooted"])
def test_a_record_of_another_process_or_boot_ends_nothing(tmp_path: Path, session_leader, changes: dict) -> None:
    _record(tmp_path, session_leader.pid, **changes)
    assert ChildRegistry(tmp_path).sweep() == []
    assert session_leader.poll() is None, "a process with the recorded pid but not the recorded one was killed"
    assert list(tmp_path.iterdir()) == []


def test_an_unreadable_record_is_dropped(tmp_path: Path) -> None:
    (tmp_path / "123.json").write_text("{not json")
    assert ChildRegistry(tmp_path).sweep() == []
    assert list(tmp_path.iterdir()) == []

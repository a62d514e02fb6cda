"""ScriptRunner against real python and bash subprocesses."""

from __future__ import annotations

import asyncio
import hashlib
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import pytest

from agent.runners.base import FinalState, LogSource, RunContext
from agent.runners.process import MAX_LINE_BYTES, hash_outputs
from agent.runners.script import ScriptRunner
from aifarm.v1 import task_pb2


@dataclass
class RecordingReporter:
    """Test double for TaskReporter: records every call."""

    logs: list[tuple[LogSource, str]] = field(default_factory=list)
    progress_values: list[float] = field(default_factory=list)
    metrics: list[tuple[int, dict[str, float]]] = field(default_factory=list)
    pauses: list[bool] = field(default_factory=list)

    def log(self, source: LogSource, text: str) -> None:
        self.logs.append((source, text))

    def progress(self, fraction: float) -> None:
        self.progress_values.append(fraction)

    def metric(self, epoch: int, values: dict[str, float]) -> None:
        self.metrics.append((epoch, values))

    def paused(self, is_paused: bool) -> None:
        self.pauses.append(is_paused)

    def lines(self, source: LogSource) -> list[str]:
        return [text for src, text in self.logs if src is source]


async def _no_dataset(name: str) -> Path:
    raise AssertionError("scripts fetch no datasets")


def _ctx(workdir: Path, time_limit: int = 0) -> RunContext:
    return RunContext(task_id="t-1", attempt=2, workdir=workdir, time_limit_seconds=time_limit, fetch_dataset=_no_dataset)


async def _until(predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.02)


def _runner(tmp_path: Path, source: str, time_limit: int = 0, **spec_fields: object) -> tuple[ScriptRunner, RecordingReporter]:
    reporter = RecordingReporter()
    spec = task_pb2.ScriptSpec(source=source, **spec_fields)  # type: ignore[arg-type]
    return ScriptRunner(spec, _ctx(tmp_path, time_limit), reporter, grace_seconds=0.5), reporter


async def test_only_the_allotted_gpus_are_visible(tmp_path: Path) -> None:
    source = "import os\nprint(repr(os.environ['CUDA_VISIBLE_DEVICES']))\n"
    spec = task_pb2.ScriptSpec(source=source, env={"CUDA_VISIBLE_DEVICES": "0,1,2,3"})
    for gpus, shown in (((1, 3), "'1,3'"), ((), "''")):
        reporter = RecordingReporter()
        ctx = RunContext("t-1", 1, tmp_path, 0, _no_dataset, gpu_indices=gpus)
        assert (await ScriptRunner(spec, ctx, reporter).run()).state is FinalState.COMPLETED
        assert reporter.lines(LogSource.STDOUT) == [shown]


async def test_lines_stream_while_the_script_runs(tmp_path: Path) -> None:
    source = """
import os, time
print("first")
while not os.path.exists("release"):
    time.sleep(0.02)
print("second")
"""
    runner, reporter = _runner(tmp_path, source)
    task = asyncio.create_task(runner.run())
    await _until(lambda: "first" in reporter.lines(LogSource.STDOUT))
    assert not task.done(), "the line must arrive while the script is still running"
    (tmp_path / "release").touch()
    outcome = await task
    assert outcome.state is FinalState.COMPLETED and outcome.exit_code == 0
    assert reporter.lines(LogSource.STDOUT) == ["first", "second"]


async def test_both_streams_env_args_and_system_lines(tmp_path: Path) -> None:
    source = """
import os, sys
for i in range(50):
    print(f"out {i}")
    print(f"err {i}", file=sys.stderr)
print(os.environ["AIFARM_TASK_ID"], os.environ["AIFARM_ATTEMPT"], os.environ["GREETING"], *sys.argv[1:])
"""
    runner, reporter = _runner(tmp_path, source, args=["a b", "c"], env={"GREETING": "hi"})
    outcome = await runner.run()
    assert outcome.state is FinalState.COMPLETED
    out = reporter.lines(LogSource.STDOUT)
    assert out[:50] == [f"out {i}" for i in range(50)]
    assert out[50] == "t-1 2 hi a b c"
    assert reporter.lines(LogSource.STDERR) == [f"err {i}" for i in range(50)]
    system = reporter.lines(LogSource.SYSTEM)
    assert system[0] == "starting: python main.py 'a b' c"
    assert system[-1].startswith("ended completed")
    assert (tmp_path / "main.py").read_text() == source


async def test_bash_is_inferred_from_the_extension(tmp_path: Path) -> None:
    runner, reporter = _runner(tmp_path, 'echo "from bash $0"\n', entrypoint="run.sh")
    outcome = await runner.run()
    assert outcome.state is FinalState.COMPLETED
    assert reporter.lines(LogSource.STDOUT) == ["from bash run.sh"]


async def test_nonzero_exit_fails(tmp_path: Path) -> None:
    runner, reporter = _runner(tmp_path, "import sys\nprint('bye')\nsys.exit(3)\n")
    outcome = await runner.run()
    assert outcome.state is FinalState.FAILED
    assert outcome.exit_code == 3
    assert outcome.error == "exited with code 3"
    assert reporter.lines(LogSource.STDOUT) == ["bye"]


async def test_death_by_signal_is_reported(tmp_path: Path) -> None:
    runner, _ = _runner(tmp_path, "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)\n")
    outcome = await runner.run()
    assert outcome.state is FinalState.FAILED
    assert outcome.exit_code == 128 + 9
    assert "SIGKILL" in outcome.error


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"entrypoint": "../evil.py"}, "plain file name"),
        ({"entrypoint": "sub/main.py"}, "plain file name"),
        ({"entrypoint": "main.py", "interpreter": "ruby"}, "unknown interpreter 'ruby'"),
        ({"entrypoint": "main.rb"}, "cannot infer the interpreter"),
    ],
)
async def test_bad_specs_fail_without_starting(tmp_path: Path, fields: dict[str, str], message: str) -> None:
    runner, reporter = _runner(tmp_path, "print('x')", **fields)
    outcome = await runner.run()
    assert outcome.state is FinalState.FAILED
    assert message in outcome.error
    assert reporter.lines(LogSource.STDOUT) == []
    assert list(tmp_path.iterdir()) == []


async def test_time_limit_terminates_the_group(tmp_path: Path) -> None:
    runner, reporter = _runner(tmp_path, "import time\nprint('sleeping')\ntime.sleep(60)\n", time_limit=1)
    started = time.monotonic()
    outcome = await runner.run()
    assert time.monotonic() - started < 5
    assert outcome.state is FinalState.FAILED
    assert outcome.error == "time limit of 1 s exceeded"
    assert reporter.lines(LogSource.STDOUT) == ["sleeping"]


async def test_time_limit_kills_a_script_that_ignores_sigterm(tmp_path: Path) -> None:
    # bash passes the ignored SIGTERM on to sleep, so only SIGKILL ends either.
    runner, _ = _runner(tmp_path, "trap '' TERM\nsleep 60\n", time_limit=1, entrypoint="x.sh")
    started = time.monotonic()
    outcome = await runner.run()
    assert time.monotonic() - started < 5
    assert outcome.state is FinalState.FAILED
    assert outcome.error == "time limit of 1 s exceeded"
    assert outcome.exit_code == 128 + 9


async def test_pause_stops_progress_and_resume_continues(tmp_path: Path) -> None:
    source = "import time\ni = 0\nwhile True:\n    print(i)\n    i += 1\n    time.sleep(0.02)\n"
    runner, reporter = _runner(tmp_path, source)
    task = asyncio.create_task(runner.run())
    await _until(lambda: len(reporter.lines(LogSource.STDOUT)) >= 3)
    await runner.pause()
    await runner.pause()
    await asyncio.sleep(0.3)  # lines already in the pipe may still arrive
    seen = len(reporter.lines(LogSource.STDOUT))
    await asyncio.sleep(0.7)
    assert len(reporter.lines(LogSource.STDOUT)) == seen, "a paused script must make no progress"
    await runner.resume()
    await runner.resume()
    await _until(lambda: len(reporter.lines(LogSource.STDOUT)) >= seen + 3)
    assert reporter.pauses == [True, False]
    await runner.stop()
    outcome = await task
    assert outcome.state is FinalState.CANCELLED
    out = reporter.lines(LogSource.STDOUT)
    assert out == [str(i) for i in range(len(out))]


async def test_stop_sends_sigterm_first(tmp_path: Path) -> None:
    source = """
import signal, sys, time
def bye(*_):
    print("got SIGTERM")
    sys.exit(0)
signal.signal(signal.SIGTERM, bye)
print("ready")
time.sleep(60)
"""
    runner, reporter = _runner(tmp_path, source)
    task = asyncio.create_task(runner.run())
    await _until(lambda: "ready" in reporter.lines(LogSource.STDOUT))
    await runner.stop()
    outcome = await task
    assert outcome.state is FinalState.CANCELLED
    assert reporter.lines(LogSource.STDOUT) == ["ready", "got SIGTERM"]
    await runner.stop()
    await runner.cancel()
    await runner.pause()
    await runner.resume()
    assert reporter.pauses == []


async def test_cancel_kills_now_even_when_paused(tmp_path: Path) -> None:
    runner, reporter = _runner(tmp_path, "import time\nprint('ready')\ntime.sleep(60)\n")
    task = asyncio.create_task(runner.run())
    await _until(lambda: "ready" in reporter.lines(LogSource.STDOUT))
    await runner.pause()
    started = time.monotonic()
    await runner.cancel()
    await runner.cancel()
    outcome = await task
    assert time.monotonic() - started < 2
    assert outcome.state is FinalState.CANCELLED
    assert "SIGKILL" in outcome.error


async def test_stop_before_run_never_starts(tmp_path: Path) -> None:
    runner, reporter = _runner(tmp_path, "print('never')")
    await runner.stop()
    outcome = await runner.run()
    assert outcome.state is FinalState.CANCELLED
    assert reporter.lines(LogSource.STDOUT) == []


async def test_long_lines_are_split_and_bad_utf8_replaced(tmp_path: Path) -> None:
    source = "import sys\nsys.stdout.write('x' * 200000 + '\\n')\nsys.stdout.buffer.write(b'caf\\xff\\n')\n"
    runner, reporter = _runner(tmp_path, source)
    outcome = await runner.run()
    assert outcome.state is FinalState.COMPLETED
    out = reporter.lines(LogSource.STDOUT)
    assert out[-1] == "caf\ufffd"
    assert "".join(out[:-1]) == "x" * 200000
    assert all(len(piece) <= MAX_LINE_BYTES for piece in out)


WRITER = "import pathlib\npathlib.Path('out').mkdir()\npathlib.Path('out/result.txt').write_text('{}')\n"


async def _hash_of(workdir: Path, source: str) -> str:
    workdir.mkdir()
    runner, _ = _runner(workdir, source)
    outcome = await runner.run()
    assert outcome.state is FinalState.COMPLETED
    return outcome.output_sha256


async def test_output_hash_is_stable_and_follows_the_output(tmp_path: Path) -> None:
    first = await _hash_of(tmp_path / "a", WRITER.format("42"))
    again = await _hash_of(tmp_path / "b", WRITER.format("42"))
    other = await _hash_of(tmp_path / "c", WRITER.format("43"))
    nothing = await _hash_of(tmp_path / "d", "print('no files')")
    assert first == again
    assert first != other
    assert nothing == ""
    # The documented scheme, spelled out: path, NUL, 8-byte size, content.
    expected = hashlib.sha256(b"out/result.txt\0" + (2).to_bytes(8, "big") + b"42").hexdigest()
    assert first == expected
    assert hash_outputs(tmp_path / "a", frozenset({"main.py"})) == expected


def _gone_or_zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"
    except (FileNotFoundError, ProcessLookupError):  # reaped between the look and the read
        return True


async def test_cancelling_the_run_task_kills_the_process(tmp_path: Path) -> None:
    source = "import os, time\nprint(os.getpid(), flush=True)\ntime.sleep(60)\n"
    runner, reporter = _runner(tmp_path, source)
    task = asyncio.create_task(runner.run())
    await _until(lambda: len(reporter.lines(LogSource.STDOUT)) == 1)
    pid = int(reporter.lines(LogSource.STDOUT)[0])
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await _until(lambda: _gone_or_zombie(pid))

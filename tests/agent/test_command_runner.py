"""CommandRunner against real programs: argv exec'd as it is, the script runner's controls."""

from __future__ import annotations

import asyncio
from pathlib import Path

from agent.runners.base import FinalState, LogSource, RunContext
from agent.runners.command import CommandRunner
from aifarm.v1 import task_pb2
from test_script_runner import RecordingReporter, _until


async def _no_dataset(name: str) -> Path:
    raise AssertionError("commands fetch no datasets")


def _runner(tmp_path: Path, *argv: str, time_limit: int = 0, **spec: object) -> tuple[CommandRunner, RecordingReporter]:
    ctx = RunContext(task_id="t-1", attempt=1, workdir=tmp_path, time_limit_seconds=time_limit,
                     fetch_dataset=_no_dataset)  # fmt: skip
    reporter = RecordingReporter()
    msg = task_pb2.CommandSpec(argv=list(argv), **spec)
    return CommandRunner(msg, ctx, reporter, grace_seconds=0.5), reporter


async def test_argv_reaches_the_program_unchanged(tmp_path: Path) -> None:
    runner, reporter = _runner(tmp_path, "printf", "[%s]\\n", "a b", "$PATH", "*", "")
    outcome = await runner.run()
    assert outcome.state is FinalState.COMPLETED and outcome.exit_code == 0
    assert reporter.lines(LogSource.STDOUT) == ["[a b]", "[$PATH]", "[*]", "[]"]
    assert reporter.lines(LogSource.SYSTEM)[0] == "starting: printf '[%s]\\n' 'a b' '$PATH' '*' ''"


async def test_working_directory_is_made_inside_the_attempts(tmp_path: Path) -> None:
    runner, reporter = _runner(tmp_path, "sh", "-c", "pwd > here.txt", working_directory="deep/er")
    outcome = await runner.run()
    assert outcome.state is FinalState.COMPLETED
    assert (tmp_path / "deep" / "er" / "here.txt").read_text().strip() == str((tmp_path / "deep" / "er").resolve())
    assert len(outcome.output_sha256) == 64, "what it wrote is hashed"


async def test_a_missing_program_fails_naming_it(tmp_path: Path) -> None:
    runner, _ = _runner(tmp_path, "surely-not-installed", env={"PATH": "/nowhere"})
    outcome = await runner.run()
    assert outcome.state is FinalState.FAILED and outcome.exit_code == -1
    assert "'surely-not-installed' was not found on this node's PATH (/nowhere)" in outcome.error


async def test_a_file_that_is_not_executable_fails_saying_so(tmp_path: Path) -> None:
    (tmp_path / "run.sh").write_text("echo hi\n")
    runner, _ = _runner(tmp_path, "./run.sh")
    outcome = await runner.run()
    assert outcome.state is FinalState.FAILED and "is not executable here" in outcome.error


async def test_pause_resume_and_cancel(tmp_path: Path) -> None:
    runner, reporter = _runner(tmp_path, "sh", "-c", "while :; do echo tick; sleep 0.05; done")
    job = asyncio.create_task(runner.run())
    await _until(lambda: len(reporter.lines(LogSource.STDOUT)) > 2)
    await runner.pause()
    assert reporter.pauses == [True]
    await asyncio.sleep(0.2)
    frozen = len(reporter.lines(LogSource.STDOUT))
    await asyncio.sleep(0.3)
    assert len(reporter.lines(LogSource.STDOUT)) == frozen
    await runner.resume()
    await _until(lambda: len(reporter.lines(LogSource.STDOUT)) > frozen)
    await runner.cancel()
    outcome = await asyncio.wait_for(job, 10)
    assert outcome.state is FinalState.CANCELLED and "SIGKILL" in outcome.error


async def test_cancel_before_start_runs_nothing(tmp_path: Path) -> None:
    runner, reporter = _runner(tmp_path, "sh", "-c", "touch ran")
    await runner.cancel()
    outcome = await runner.run()
    assert outcome.state is FinalState.CANCELLED and not (tmp_path / "ran").exists()

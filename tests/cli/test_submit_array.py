"""`aifarm submit ... --count N`: an array of N copies through BatchCreateTasks, all or none."""

from __future__ import annotations

from pathlib import Path

from client_runs import Farm, invoke

from aifarm.v1 import task_pb2


def total(farm: Farm) -> int:
    tasks = invoke("tasks", "--json", "--limit", "1000", *farm.args()).json()
    assert isinstance(tasks, list)
    return len(tasks)


def test_count_submits_copies_that_all_run(farm: Farm, tmp_path: Path) -> None:
    script = tmp_path / "quick.py"
    script.write_text("print('done')\n")
    created = invoke("submit", "script", str(script), "--count", "5", "--name", "arr", "--json", *farm.args()).json()
    assert isinstance(created, list) and len({t["name"] for t in created}) == 5
    assert [t["display_name"] for t in created] == [f"arr [{i}]" for i in range(5)]
    for task in created:
        done = farm.client.wait_state(task["name"], task_pb2.TASK_STATE_COMPLETED, task_pb2.TASK_STATE_FAILED)
        assert done.state == task_pb2.TASK_STATE_COMPLETED, done.state_reason
    lines = invoke("submit", "script", str(script), "--count", "2", *farm.args()).lines
    assert len(lines) == 2 and all(line.startswith("submitted tasks/") for line in lines)


def test_a_refused_array_creates_nothing_and_follow_is_for_one_task(farm: Farm, tmp_path: Path) -> None:
    script = tmp_path / "never.py"
    script.write_text("print('never')\n")
    count = total(farm)
    refused = invoke("submit", "script", str(script), "--count", "3", "--after", "no-such-task", *farm.args())
    assert refused.code == 1 and "requests[0]" in refused.stderr and "no-such-task" in refused.stderr
    assert total(farm) == count, "nothing of the array was created"
    usage = invoke("submit", "script", str(script), "--count", "3", "--follow", *farm.args())
    assert usage.code == 2 and "--follow watches one task" in usage.stderr

"""Task.changed: what dataclasses.replace makes, cheaper; a field it does not have is refused."""

from __future__ import annotations

from dataclasses import replace

import pytest

from controller.domain.types import Resources, Task, TaskState
from taskspec.script import ScriptSpec


def test_changed_is_replace() -> None:
    task = Task(id="t", spec=ScriptSpec(source="print(1)"), labels={"a": "b"}, resources=Resources(cpu_cores=2))
    changes = {"state": TaskState.RUNNING, "node_id": "n1", "attempt": 3, "progress": 0.5}
    new = task.changed(**changes)
    assert new == replace(task, **changes)  # type: ignore[arg-type]
    assert task.state is TaskState.PENDING and task.node_id == "", "the original is untouched"
    with pytest.raises(AttributeError):
        new.state = TaskState.FAILED  # type: ignore[misc]  # still frozen


def test_a_field_a_task_does_not_have_is_refused() -> None:
    with pytest.raises(TypeError, match="no field nodeid"):
        Task(id="t", spec=ScriptSpec(source="print(1)")).changed(nodeid="n1")

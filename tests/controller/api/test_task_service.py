"""TaskService through the wire: the door of the domain validates, lists stay small, /v1 can do what compat can."""

from __future__ import annotations

import asyncio
import base64

import grpc
import pytest
from google.rpc import error_details_pb2, status_pb2

from aifarm.compat.shelby.v1 import job_service_pb2
from aifarm.v1 import task_pb2, task_service_pb2 as pb
from served_controller import METADATA, Served
from taskspec.script import MAX_SOURCE_BYTES

pytestmark = pytest.mark.asyncio(loop_scope="function")


def script(source: str = "print(1)", **fields: object) -> task_pb2.Task:
    return task_pb2.Task(script=task_pb2.ScriptSpec(source=source, **fields))


async def create(served: Served, task: task_pb2.Task, task_id: str = "") -> task_pb2.Task:
    return await served.tasks.CreateTask(pb.CreateTaskRequest(task=task, task_id=task_id), metadata=METADATA)


async def refused(call, code: grpc.StatusCode = grpc.StatusCode.INVALID_ARGUMENT) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call
    assert caught.value.code() == code, caught.value.details()
    return caught.value


def reason(error: grpc.aio.AioRpcError) -> str:
    for key, value in error.trailing_metadata() or ():
        if key == "grpc-status-details-bin":
            info = error_details_pb2.ErrorInfo()
            status_pb2.Status.FromString(value).details[0].Unpack(info)
            return info.reason
    return ""


async def total(served: Served) -> int:
    return (await served.tasks.ListTasks(pb.ListTasksRequest(), metadata=METADATA)).total_size


@pytest.mark.parametrize("entrypoint", ["../escape.py", "sub/dir.py", "/etc/passwd.py", "..", "a\\b.py"])
async def test_an_entrypoint_with_a_path_is_refused_at_create(served: Served, entrypoint: str) -> None:
    error = await refused(create(served, script(entrypoint=entrypoint)))
    assert "plain file name" in error.details() and reason(error) == "INVALID_SPEC"
    assert await total(served) == 0, "nothing was stored"


async def test_a_page_token_holding_a_huge_integer_is_invalid_argument(served: Served) -> None:
    token = base64.urlsafe_b64encode(b"o:" + b"9" * 40).decode()
    error = await refused(served.tasks.ListTasks(pb.ListTasksRequest(page_token=token), metadata=METADATA))
    assert "page_token" in error.details()
    for forged in ("o:-5", "not base64!", "x" * 500):
        raw = base64.urlsafe_b64encode(forged.encode()).decode() if forged.startswith("o:") else forged
        await refused(served.tasks.ListTasks(pb.ListTasksRequest(page_token=raw), metadata=METADATA))


async def test_scripts_over_the_bound_are_refused_and_lists_keep_working(served: Served) -> None:
    """Six tasks with 45 MB scripts once made GET /v1/tasks fail for everyone ("message larger than max")."""
    huge = "#" * (45 << 20)
    for _ in range(6):
        error = await refused(create(served, script(huge)))
        assert str(MAX_SOURCE_BYTES) in error.details()
    await refused(create(served, script(requirements="x" * (65 << 10))))
    assert await total(served) == 0


async def test_lists_are_summaries_and_the_full_view_is_paged_small(served: Served) -> None:
    biggest = "#" * (MAX_SOURCE_BYTES - 10) + "\nprint(1)"
    for i in range(6):
        await create(served, script(biggest, requirements="numpy\n", env={"TOKEN": "secret"}), f"big-{i}")
    page = await served.tasks.ListTasks(pb.ListTasksRequest(page_size=1000), metadata=METADATA)
    assert page.total_size == 6 and len(page.tasks) == 6
    assert all(t.script.source == "" and t.script.requirements == "" and not t.script.env for t in page.tasks)
    assert all(t.script.entrypoint == "main.py" for t in page.tasks), "the summary still says what it runs"
    assert page.ByteSize() < 10_000
    full = await served.tasks.ListTasks(pb.ListTasksRequest(page_size=1000, view=pb.TASK_VIEW_FULL), metadata=METADATA)
    assert len(full.tasks) == 6 and full.tasks[0].script.source == biggest and full.tasks[0].script.env["TOKEN"] == "secret"
    one = await served.tasks.GetTask(pb.GetTaskRequest(name="tasks/big-0"), metadata=METADATA)
    assert one.script.source == biggest and one.script.requirements == "numpy\n"


async def test_restart_and_delete_are_in_the_core_api(served: Served) -> None:
    await create(served, script(), "t")
    await served.tasks.CancelTask(pb.CancelTaskRequest(name="tasks/t"), metadata=METADATA)
    restarted = await served.tasks.RestartTask(pb.RestartTaskRequest(name="tasks/t"), metadata=METADATA)
    assert restarted.state == task_pb2.TASK_STATE_PENDING
    await refused(served.tasks.RestartTask(pb.RestartTaskRequest(name="tasks/t"), metadata=METADATA),
                  grpc.StatusCode.FAILED_PRECONDITION)  # fmt: skip
    await served.tasks.DeleteTask(pb.DeleteTaskRequest(name="tasks/t"), metadata=METADATA)
    await refused(served.tasks.GetTask(pb.GetTaskRequest(name="tasks/t"), metadata=METADATA), grpc.StatusCode.NOT_FOUND)
    await refused(served.tasks.DeleteTask(pb.DeleteTaskRequest(name="tasks/t"), metadata=METADATA),
                  grpc.StatusCode.NOT_FOUND)  # fmt: skip


async def test_a_dependent_of_a_deleted_task_fails_rather_than_waits_forever(served: Served) -> None:
    await create(served, task_pb2.Task(script=task_pb2.ScriptSpec(source="print(1)"), resources={"gpus": 64}),
                 "base")  # no node: it never runs  # fmt: skip
    await create(served, task_pb2.Task(script=task_pb2.ScriptSpec(source="print(2)"), depends_on=["tasks/base"]), "child")
    await served.tasks.DeleteTask(pb.DeleteTaskRequest(name="tasks/base"), metadata=METADATA)
    for _ in range(50):  # the next scheduling pass settles it (the dispatcher ticks every second at most)
        child = await served.tasks.GetTask(pb.GetTaskRequest(name="tasks/child"), metadata=METADATA)
        if child.state == task_pb2.TASK_STATE_FAILED:
            break
        await asyncio.sleep(0.1)
    assert child.state == task_pb2.TASK_STATE_FAILED and "deleted" in child.state_reason


async def test_a_shelby_jobs_fields_are_not_user_labels(served: Served) -> None:
    await served.jobs.CreateJob(job_service_pb2.CreateJobRequest(jobId="job-1", datasetName="mnist",
                                                                 datasetUrl="http://x/y", runtimeMinutesEstimate=5),
                                metadata=METADATA)  # fmt: skip
    task = await served.tasks.GetTask(pb.GetTaskRequest(name="tasks/job-1"), metadata=METADATA)
    assert dict(task.labels) == {}, "ShelbyCompute's fields live in the task's compat metadata"
    job = await served.jobs.GetJob(job_service_pb2.GetJobRequest(jobId="job-1"), metadata=METADATA)
    assert job.datasetName == "mnist" and job.datasetUrl == "http://x/y"

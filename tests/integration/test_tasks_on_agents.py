"""A controller and two real agents run script and training tasks."""

from __future__ import annotations

import io
import time

import pytest
import torch

from aifarm.v1 import node_pb2, task_pb2, task_service_pb2
from farm_processes import Client, script_task, wait_for

T = task_pb2


@pytest.fixture
def two_agents(start_agent, client: Client):
    agents = [start_agent("a"), start_agent("b")]
    wait_for(lambda: len(client.online_nodes()) == 2, what="two agents online")
    return agents


def test_script_completes_with_ordered_logs_and_exit_code(two_agents, client: Client) -> None:
    src = "import sys\nfor i in range(50):\n    print('line', i)\nprint('oops', file=sys.stderr)\nopen('out.txt','w').write('x')\n"
    task = client.create(script_task(src, name="ordered"))
    done = client.wait_state(task.name, T.TASK_STATE_COMPLETED, T.TASK_STATE_FAILED)
    assert done.state == T.TASK_STATE_COMPLETED, done.state_reason
    assert done.result.exit_code == 0 and len(done.result.output_sha256) == 64
    stdout = [ln.text for ln in client.logs(task.name) if ln.stream == T.LOG_STREAM_STDOUT]
    assert stdout == [f"line {i}" for i in range(50)]
    assert any(ln.text == "oops" and ln.stream == T.LOG_STREAM_STDERR for ln in client.logs(task.name))

    failing = client.create(script_task("import sys\nprint('bye')\nsys.exit(3)\n"))
    failed = client.wait_state(failing.name, T.TASK_STATE_FAILED)
    assert failed.result.exit_code == 3 and "3" in failed.result.error


def test_logs_stream_while_running(two_agents, client: Client) -> None:
    src = "import time\nfor i in range(4):\n    print('tick', i, flush=True)\n    time.sleep(0.5)\n"
    task = client.create(script_task(src))
    req = task_service_pb2.StreamTaskLogsRequest(parent=task.name, follow=True)
    seen = []
    for line in client.tasks.StreamTaskLogs(req, metadata=client.metadata, timeout=60):
        if line.stream == T.LOG_STREAM_STDOUT:
            seen.append((line.text, client.get(task.name).state))
    assert [text for text, _ in seen] == [f"tick {i}" for i in range(4)]
    assert seen[0][1] == T.TASK_STATE_RUNNING  # the first line arrived while the task still ran


def test_training_reports_epochs_and_a_loadable_checkpoint(two_agents, client: Client) -> None:
    spec = T.TrainingSpec(architecture="mlp", epochs=3, batch_size=32, learning_rate=0.01, seed=1,
                          synthetic=T.SyntheticDataset(samples=400, features=8, classes=3))  # fmt: skip
    task = client.create(T.Task(display_name="mlp", training=spec))
    done = client.wait_state(task.name, T.TASK_STATE_COMPLETED, T.TASK_STATE_FAILED, timeout=120)
    assert done.state == T.TASK_STATE_COMPLETED, (done.state_reason, [ln.text for ln in client.logs(task.name)])
    points = client.tasks.ListTaskMetrics(task_service_pb2.ListTaskMetricsRequest(parent=task.name),
                                          metadata=client.metadata).points  # fmt: skip
    assert [p.epoch for p in points] == [1, 2, 3]
    for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
        assert all(key in p.values for p in points)
    assert points[-1].values["loss"] < points[0].values["loss"]
    assert done.artifacts, "the final checkpoint is uploaded as an artifact"
    stream = client.tasks.DownloadArtifact(task_service_pb2.DownloadArtifactRequest(name=done.artifacts[0].name),
                                           metadata=client.metadata)  # fmt: skip
    checkpoint = torch.load(io.BytesIO(b"".join(m.data for m in stream)), weights_only=False)
    assert "model_state_dict" in checkpoint


def test_cancel_and_pause_resume_reach_the_running_work(two_agents, client: Client) -> None:
    src = "import time\nfor i in range(600):\n    print(i, flush=True)\n    time.sleep(0.05)\n"
    task = client.create(script_task(src))
    client.wait_state(task.name, T.TASK_STATE_RUNNING)
    wait_for(lambda: len(client.logs(task.name)) > 5, what="some output")

    client.tasks.PauseTask(task_service_pb2.PauseTaskRequest(name=task.name), metadata=client.metadata)
    client.wait_state(task.name, T.TASK_STATE_PAUSED)
    time.sleep(0.5)
    frozen = len(client.logs(task.name))
    time.sleep(1.0)
    assert len(client.logs(task.name)) == frozen, "a paused task prints nothing"

    client.tasks.ResumeTask(task_service_pb2.ResumeTaskRequest(name=task.name), metadata=client.metadata)
    client.wait_state(task.name, T.TASK_STATE_RUNNING)
    wait_for(lambda: len(client.logs(task.name)) > frozen + 5, what="output after resume")

    client.tasks.CancelTask(task_service_pb2.CancelTaskRequest(name=task.name), metadata=client.metadata)
    assert client.get(task.name).state == T.TASK_STATE_CANCELLED
    time.sleep(1.0)
    settled = len(client.logs(task.name))
    time.sleep(1.0)
    assert len(client.logs(task.name)) == settled, "the cancelled process no longer prints"


def test_a_task_needing_more_gpus_than_any_node_stays_pending(two_agents, client: Client) -> None:
    task = client.create(script_task("print(1)", resources=node_pb2.Resources(gpus=4)))
    pending = wait_for(lambda: "no online node can fit" in (t := client.get(task.name)).state_reason and t,
                       what="a pending reason")  # fmt: skip
    assert pending.state == T.TASK_STATE_PENDING
    assert "4 GPUs" in pending.state_reason


def test_priorities_and_dependencies(start_agent, client: Client) -> None:
    start_agent("solo", "--cpus", "1")
    wait_for(lambda: len(client.online_nodes()) == 1, what="the agent")
    blocker = client.create(script_task("import time; time.sleep(1.5)"))
    client.wait_state(blocker.name, T.TASK_STATE_RUNNING)
    low = client.create(script_task("print('low')", priority=T.TASK_PRIORITY_LOW))
    first = client.create(script_task("print('first')"))
    after = client.create(script_task("print('after')", priority=T.TASK_PRIORITY_CRITICAL, depends_on=[first.name]))
    high = client.create(script_task("print('high')", priority=T.TASK_PRIORITY_HIGH))
    for t in (low, first, after, high):
        client.wait_state(t.name, T.TASK_STATE_COMPLETED)
    order = sorted([low, first, after, high], key=lambda t: client.get(t.name).start_time.ToNanoseconds())
    assert [t.name for t in order] == [high.name, first.name, after.name, low.name]

    doomed = client.create(script_task("import sys; sys.exit(1)"))
    child = client.create(script_task("print('never')", depends_on=[doomed.name]))
    failed = client.wait_state(child.name, T.TASK_STATE_FAILED)
    assert doomed.name.split("/")[1] in failed.state_reason

"""A distributed training task (a gang) on real agents: three ranks train one model with gloo,
and killing one rank's agent mid-run requeues the whole gang, which then completes.

Real processes: a controller and `aifarm agent`s on 127.0.0.1 (tests/farm_processes.py); each agent
reserves a rendezvous port and rank 0's torch TCPStore listens on it.
"""

from __future__ import annotations

import io
import re
import signal

import pytest
import torch

from aifarm.v1 import task_pb2, task_service_pb2
from farm_processes import AgentProcess, Client, wait_for

T = task_pb2
pytestmark = pytest.mark.slow
FINAL = re.compile(r"^\[rank (\d)\] completed after \d+ full epoch\(s\); weights sha256 ([0-9a-f]{64})$")


def gang(samples: int, epochs: int, world_size: int = 3, max_retries: int = 0) -> T.Task:
    spec = T.TrainingSpec(architecture="mlp", epochs=epochs, batch_size=32, learning_rate=0.05, seed=3,
                          synthetic=T.SyntheticDataset(samples=samples, features=8, classes=3))  # fmt: skip
    return T.Task(display_name="ddp", training=spec, world_size=world_size, max_retries=max_retries)


def agents_online(start_agent, client: Client, count: int) -> list[AgentProcess]:
    started = [start_agent(f"rank-host-{i}") for i in range(count)]
    wait_for(lambda: len(client.online_nodes()) == count, timeout=60, what=f"{count} agents online")
    return started


def finished(client: Client, name: str, timeout: float = 240.0) -> T.Task:
    done = client.wait_state(name, T.TASK_STATE_COMPLETED, T.TASK_STATE_FAILED, T.TASK_STATE_CANCELLED, timeout=timeout)
    assert done.state == T.TASK_STATE_COMPLETED, (done.state_reason, [ln.text for ln in client.logs(name)][-30:])
    return done


def final_weights(client: Client, name: str, attempt: int) -> dict[int, str]:
    """Each rank's sha256 of its final weights, from its last log line of `attempt`."""
    found = {}
    for line in client.logs(name):
        if line.attempt == attempt and (m := FINAL.match(line.text)):
            found[int(m.group(1))] = m.group(2)
    return found


def test_three_ranks_train_one_model_with_gloo(start_agent, client: Client) -> None:
    agents_online(start_agent, client, 3)
    task = client.create(gang(samples=900, epochs=4))
    done = finished(client, task.name)

    assert done.world_size == 3 and done.attempt == 1
    assert len({r.node for r in done.ranks}) == 3, "each rank on its own node"
    assert [r.rank for r in done.ranks] == [0, 1, 2] and {r.state for r in done.ranks} == {T.TASK_STATE_COMPLETED}
    weights = final_weights(client, task.name, 1)
    assert sorted(weights) == [0, 1, 2] and len(set(weights.values())) == 1, f"the ranks' weights differ: {weights}"

    points = client.tasks.ListTaskMetrics(task_service_pb2.ListTaskMetricsRequest(parent=task.name),
                                          metadata=client.metadata).points  # fmt: skip
    assert [p.epoch for p in points] == [1, 2, 3, 4], "one series for the gang (rank 0's, averaged over the ranks)"
    assert points[-1].values["loss"] < points[0].values["loss"]

    [artifact] = done.artifacts  # rank 0's checkpoint only
    stream = client.tasks.DownloadArtifact(task_service_pb2.DownloadArtifactRequest(name=artifact.name),
                                           metadata=client.metadata)  # fmt: skip
    checkpoint = torch.load(io.BytesIO(b"".join(m.data for m in stream)), weights_only=False)
    assert checkpoint["model_state_dict"], "rank 0's checkpoint loads"
    texts = [ln.text for ln in client.logs(task.name)]
    assert any(t.startswith("[rank 1] rank 1/3 (gloo on cpu)") for t in texts), texts[:20]


def test_killing_one_ranks_agent_requeues_the_whole_gang_which_then_completes(start_agent, client: Client) -> None:
    agents = agents_online(start_agent, client, 4)
    by_node = {a.node_id: a for a in agents}
    task = client.create(gang(samples=3000, epochs=6, max_retries=2))
    running = wait_for(lambda: (t := client.get(task.name)).state == T.TASK_STATE_RUNNING and t.progress > 0.05 and t,
                       timeout=180, what="the gang to be training")  # fmt: skip
    victim = by_node[running.ranks[1].node.removeprefix("nodes/")]
    victim.signal(signal.SIGKILL)

    done = finished(client, task.name)
    assert done.attempt == 2, "the whole gang ran again as one new attempt"
    assert victim.node_id not in {r.node.removeprefix("nodes/") for r in done.ranks}
    weights = final_weights(client, task.name, 2)
    assert sorted(weights) == [0, 1, 2] and len(set(weights.values())) == 1
    assert not final_weights(client, task.name, 1), "no rank of the first attempt went on to finish"

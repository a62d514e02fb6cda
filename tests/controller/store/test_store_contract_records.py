"""The Store contract for what tasks record and for the other entities, on SQLite and in memory.

Logs, metrics, attempt records, artifacts and deletes; nodes, datasets and models.
"""

from __future__ import annotations

from dataclasses import replace

from controller.domain.client_groups import ClientGroup, GroupState, Observer
from controller.domain.data_pool import DataChunk
from controller.domain.store import Changes, NodeStateChange, Store, TaskQuery
from controller.domain.types import Artifact, MetricPoint, NodeState, NodeUsage, TaskResult, TaskState
from store_contract_parts import dataset, ended, line, model, node, placed, stored_node, task

# Logs ---------------------------------------------------------------------------------


async def test_log_lines_get_increasing_seqs_and_a_replay_is_ignored(store: Store) -> None:
    await store.commit(Changes(created=[task("a"), task("b")]))
    await store.commit(Changes(logs=[("a", [line(1, 1), line(1, 2)]), ("b", [line(1, 1)])]))
    await store.commit(Changes(logs=[("a", [line(1, 2, "a replay"), line(1, 3)])]))
    lines = await store.logs("a")
    assert [(ln.attempt, ln.line_no, ln.text) for ln in lines] == [
        (1, 1, "line 1 of attempt 1"), (1, 2, "line 2 of attempt 1"), (1, 3, "line 3 of attempt 1")]  # fmt: skip
    seqs = [ln.seq for ln in lines]
    assert seqs == sorted(seqs) and len(set(seqs)) == 3 and seqs[0] > 0
    assert replace(lines[0], seq=0) == line(1, 1), "stream and time are kept"
    [b_line] = await store.logs("b")
    assert seqs[1] < b_line.seq < seqs[2], "one sequence across tasks, in commit order"


async def test_logs_page_after_a_seq_and_tail(store: Store) -> None:
    await store.commit(Changes(created=[task("t")]))
    await store.commit(Changes(logs=[("t", [line(1, n) for n in range(1, 11)])]))
    everything = await store.logs("t")
    seq = [ln.seq for ln in everything]
    assert [ln.line_no for ln in await store.logs("t", after_seq=seq[6])] == [8, 9, 10]
    assert [ln.line_no for ln in await store.logs("t", limit=3)] == [1, 2, 3]
    assert [ln.line_no for ln in await store.logs("t", tail=3)] == [8, 9, 10], "the last ones, oldest first"
    assert [ln.line_no for ln in await store.logs("t", tail=5, limit=2)] == [9, 10], "the limit bounds a tail"
    assert [ln.line_no for ln in await store.logs("t", after_seq=seq[8], tail=5)] == [10]
    assert await store.logs("t", after_seq=seq[-1]) == []


async def test_the_last_line_number_is_per_attempt(store: Store) -> None:
    await store.commit(Changes(created=[task("t")]))
    await store.commit(Changes(logs=[("t", [line(1, 1), line(1, 7), line(2, 3)])]))
    assert [await store.last_line_no("t", a) for a in (1, 2, 3)] == [7, 3, 0]


# Metrics --------------------------------------------------------------------------------


async def test_metrics_read_by_attempt_and_epoch_and_a_repeat_replaces(store: Store) -> None:
    await store.commit(Changes(created=[task("t")]))
    points = [MetricPoint(2, 0, {"loss": 0.9}, 5.0), MetricPoint(1, 1, {"loss": 0.5}, 2.0),
              MetricPoint(1, 0, {"loss": 1.0, "acc": 0.1}, 1.0)]  # fmt: skip
    await store.commit(Changes(metrics=[("t", p) for p in points]))
    again = MetricPoint(1, 1, {"loss": 0.4}, 3.0)
    await store.commit(Changes(metrics=[("t", again)]))
    assert await store.metrics("t") == [points[2], again, points[0]]


# Attempt records ----------------------------------------------------------------------------


async def test_each_placed_attempt_leaves_a_record_of_how_it_last_stood(store: Store) -> None:
    created = task("t", max_retries=1)
    await store.commit(Changes(created=[created]))
    first = placed(created, "n1", state=TaskState.ASSIGNED)
    await store.commit(Changes(updated=[first]))
    assert [(r.attempt, r.node_id, r.state, r.end_time) for r in await store.attempts("t")] == [
        (1, "n1", TaskState.ASSIGNED, 0.0)]  # fmt: skip
    await store.commit(Changes(updated=[replace(first, state=TaskState.RUNNING)]))
    requeued = replace(first, state=TaskState.PENDING, node_id="")
    await store.commit(Changes(updated=[requeued]))  # a lost node: the record keeps its last placement
    second = ended(placed(requeued, "n2"), TaskState.FAILED, result=TaskResult(exit_code=3, error="x"))
    await store.commit(Changes(updated=[second]))
    records = await store.attempts("t")
    assert [(r.attempt, r.node_id, r.state, r.exit_code, r.error) for r in records] == [
        (1, "n1", TaskState.RUNNING, 0, ""), (2, "n2", TaskState.FAILED, 3, "x")]  # fmt: skip
    assert (records[1].start_time, records[1].end_time) == (second.start_time, second.end_time)


async def test_a_task_never_placed_has_no_attempt_records(store: Store) -> None:
    await store.commit(Changes(created=[task("t")]))
    await store.commit(Changes(updated=[ended(task("t"), TaskState.CANCELLED)]))
    assert await store.attempts("t") == []


# Artifacts and deletes ------------------------------------------------------------------------


async def test_a_task_is_read_with_its_artifacts_by_name_and_a_reupload_replaces(store: Store) -> None:
    await store.commit(Changes(created=[placed(task("t"))]))
    b, a = Artifact("t", "b.txt", 1, 3, "11" * 32), Artifact("t", "a.pt", 1, 9, "22" * 32)
    await store.commit(Changes(artifacts=[b, a]))
    again = Artifact("t", "b.txt", 1, 4, "33" * 32)
    await store.commit(Changes(artifacts=[again]))
    assert (await store.get_task("t")).artifacts == (a, again)
    assert [t.artifacts for t in (await store.list_tasks(TaskQuery(summary=False))).tasks] == [()], "not in lists"


async def test_a_delete_removes_the_task_and_all_it_recorded_and_nothing_else(store: Store) -> None:
    for task_id in ("gone", "kept"):
        t = placed(task(task_id))
        await store.commit(Changes(created=[task(task_id)]))
        recorded = Changes(updated=[t], logs=[(task_id, [line(1, 1)])], artifacts=[Artifact(task_id, "f", 1, 1, "")],
                           metrics=[(task_id, MetricPoint(1, 0, {}, 1.0))])  # fmt: skip
        await store.commit(recorded)
    await store.commit(Changes(deleted=["gone"]))
    assert await store.get_task("gone") is None and await store.task_states(["gone"]) == {}
    assert (await store.logs("gone"), await store.metrics("gone"), await store.attempts("gone")) == ([], [], [])
    kept = await store.get_task("kept")
    assert len(kept.artifacts) == 1 and len(await store.logs("kept")) == 1 and len(await store.attempts("kept")) == 1
    assert len(await store.metrics("kept")) == 1


# Nodes -------------------------------------------------------------------------------------------


async def test_nodes_are_upserted_by_id_and_keep_their_first_create_time(store: Store) -> None:
    await store.commit(Changes(nodes=[node("n2"), node("n1", created=100.0, seen=200.0)]))
    rejoined = replace(node("n1", created=999.0, seen=500.0, gpus=2), hostname="renamed", agent_version="2.0",
                       labels={"rack": "2"}, usage=NodeUsage(cpu_percent=50.0))  # fmt: skip
    await store.commit(Changes(nodes=[rejoined]))
    n1, n2 = await store.all_nodes()
    assert stored_node(n1) == stored_node(replace(rejoined, create_time=100.0))
    assert len(n1.capabilities.gpus) == 2 and n1.capabilities.gpus[1].compute_capability == "8.0"
    assert stored_node(n2) == stored_node(node("n2"))


async def test_a_node_state_change_writes_its_state_and_last_seen_only(store: Store) -> None:
    await store.commit(Changes(nodes=[node("n1")]))
    await store.commit(Changes(node_states=[NodeStateChange("n1", NodeState.OFFLINE, 321.0),
                                            NodeStateChange("ghost", NodeState.OFFLINE, 1.0)]))  # fmt: skip
    [n1] = await store.all_nodes()
    assert (n1.state, n1.last_seen) == (NodeState.OFFLINE, 321.0)
    assert stored_node(replace(n1, state=NodeState.ONLINE, last_seen=200.0)) == stored_node(node("n1"))


async def test_nodes_read_back_are_copies(store: Store) -> None:
    await store.commit(Changes(nodes=[node("n1")]))
    [first] = await store.all_nodes()
    first.state = NodeState.RECONNECTING  # as the registry does to what it loads
    [again] = await store.all_nodes()
    assert again.state is NodeState.ONLINE


# Datasets and models --------------------------------------------------------------------------------


async def test_datasets_by_id_with_paging_and_deletes(store: Store) -> None:
    await store.commit(Changes(new_datasets=[dataset("c.csv"), dataset("a.csv"), dataset("b.csv")]))
    assert await store.get_dataset("a.csv") == dataset("a.csv")
    assert [d.id for d in await store.list_datasets(offset=0, limit=10)] == ["a.csv", "b.csv", "c.csv"]
    assert [d.id for d in await store.list_datasets(offset=1, limit=1)] == ["b.csv"]
    await store.commit(Changes(deleted_datasets=["b.csv", "never.csv"]))
    assert [d.id for d in await store.list_datasets(offset=0, limit=10)] == ["a.csv", "c.csv"]


async def test_models_oldest_first_and_deletes(store: Store) -> None:
    await store.commit(Changes(new_models=[model("young", 3.0, "t1"), model("old", 1.0), model("mid", 2.0)]))
    assert await store.get_model("young") == model("young", 3.0, "t1")
    assert [m.name for m in await store.list_models()] == ["old", "mid", "young"]
    await store.commit(Changes(deleted_models=["mid"]))
    assert [m.name for m in await store.list_models()] == ["old", "young"] and await store.get_model("mid") is None


# Data chunks ----------------------------------------------------------------------------


async def test_data_chunks_are_written_whole_read_oldest_first_and_deleted(store: Store) -> None:
    chunks = store.data_chunks()
    young = DataChunk("chunk-b", "output", "bytes", 10, "cd" * 32, {"shape": [10], "dtype": "uint8"}, ("n1:dram",),
                      "llama-7b", 2.0, 2.0)  # fmt: skip
    old = DataChunk("chunk-a", "input", "tensor", -1, "", {}, (), "api", 1.0)
    await chunks.put(young)
    await chunks.put(old)
    assert await chunks.all() == [old, young]
    moved = replace(young, locations=("n1:disk", "n2:dram"), access_count=3, last_accessed=5.0)
    await chunks.put(moved)
    await chunks.delete("chunk-a")
    await chunks.delete("chunk-never")
    assert await chunks.all() == [moved]


# AI Factory client groups -----------------------------------------------------------------


async def test_client_groups_and_observers_are_written_whole_and_read_back(store: Store) -> None:
    groups = store.client_groups()
    young = ClientGroup(2, 3, 10, "http://127.0.0.1:8123/", 2.0, "slurm:42")
    old = ClientGroup(1, 1, 5, "", 1.0, "aifarm:aifactory-1-ab", GroupState.RUNNING, "", ("http://10.0.0.1:9000",),
                      {"http://10.0.0.1:9000": {"requests": 60, "latency_ms": {"p50": 1.5}}})  # fmt: skip
    await groups.put_group(young)
    await groups.put_group(old)
    assert await groups.groups() == [old, young]
    ended = replace(young, state=GroupState.ENDED, state_reason="slurm job 42 TIMEOUT")
    await groups.put_group(ended)
    await groups.delete_group(1)
    await groups.delete_group(99)
    assert await groups.groups() == [ended]
    await groups.put_observer(Observer("10.0.0.9", 8080, {"frequency": "10s"}))
    await groups.put_observer(Observer("10.0.0.8", 80))
    await groups.put_observer(Observer("10.0.0.9", 8080, {"frequency": "1s"}))
    assert await groups.observers() == [Observer("10.0.0.9", 8080, {"frequency": "1s"}), Observer("10.0.0.8", 80)]

"""The Store contract for tasks, on SQLite and in memory: reads, atomic commits, lists and summaries.

The contract is controller.domain.store's docstring: unknown reads are None (never
NotFound), a commit applies all of its changes or none, and a taken unique key is
`Conflict` with nothing applied.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from controller.domain.store import Changes, Conflict, Store, TaskQuery
from controller.domain.types import MetricPoint, TaskState
from controller.store.sqlite_store import SqliteStore
from store_contract_parts import (
    COMMAND,
    DATA_COPY,
    FULL_SCRIPT,
    TRAINING,
    TRAINING_ON_DATASET,
    dataset,
    ended,
    every_field,
    line,
    model,
    node,
    placed,
    task,
)
from taskspec.script import ScriptSpec

# Reads of what is not there ----------------------------------------------------------


async def test_reads_of_unknown_things_are_none_or_empty(store: Store) -> None:
    assert await store.get_task("nope") is None
    assert await store.task_by_request_id("nope") is None
    assert await store.task_states(["nope"]) == {} and await store.task_states([]) == {}
    assert await store.active_tasks() == [] and await store.completed_with_output_model() == []
    page = await store.list_tasks(TaskQuery())
    assert (page.tasks, page.total) == ([], 0)
    assert await store.count_tasks_by_state() == {}
    assert await store.logs("nope") == [] and await store.last_line_no("nope", 1) == 0
    assert await store.metrics("nope") == [] and await store.attempts("nope") == []
    assert await store.all_nodes() == []
    assert await store.get_dataset("nope") is None and await store.list_datasets(offset=0, limit=10) == []
    assert await store.get_model("nope") is None and await store.list_models() == []
    assert await store.ping()


# Round trips -------------------------------------------------------------------------


@pytest.mark.parametrize("spec", [FULL_SCRIPT, TRAINING, TRAINING_ON_DATASET, COMMAND, DATA_COPY],
                         ids=["script", "training", "dataset", "command", "data-copy"])  # fmt: skip
async def test_a_created_task_reads_back_as_it_was_committed(store: Store, spec: ScriptSpec) -> None:
    created = replace(every_field(), spec=spec)
    await store.commit(Changes(created=[created]))
    assert await store.get_task("full") == created
    assert await store.task_by_request_id("req-full") == created
    assert await store.task_states(["full", "other"]) == {"full": TaskState.RUNNING}


async def test_an_empty_commit_is_allowed_and_changes_nothing(store: Store) -> None:
    await store.commit(Changes(created=[task("t")]))
    await store.commit(Changes())
    assert [t.id for t in (await store.list_tasks(TaskQuery())).tasks] == ["t"]


# All or nothing ------------------------------------------------------------------------


async def _everything_else(store: Store) -> Changes:
    """A commit's other changes, to check none of them is applied when one part conflicts."""
    await store.commit(Changes(created=[task("existing")]))
    return Changes(
        created=[task("fresh")], updated=[replace(task("existing"), state_reason="changed")],
        logs=[("existing", [line(1, 1)])], nodes=[node("n1")], new_datasets=[dataset("fresh.csv")],
        new_models=[model("fresh")],
    )  # fmt: skip


async def _nothing_applied(store: Store) -> None:
    assert await store.get_task("fresh") is None
    assert (await store.get_task("existing")).state_reason == ""
    assert await store.logs("existing") == [] and await store.all_nodes() == []
    assert await store.get_dataset("fresh.csv") is None and await store.get_model("fresh") is None


async def test_a_taken_task_id_is_a_conflict_and_nothing_is_applied(store: Store) -> None:
    changes = await _everything_else(store)
    changes.created.append(task("existing"))
    with pytest.raises(Conflict):
        await store.commit(changes)
    await _nothing_applied(store)


async def test_a_taken_request_id_is_a_conflict_and_nothing_is_applied(store: Store) -> None:
    await store.commit(Changes(created=[task("first", request_id="req-1")]))
    changes = await _everything_else(store)
    changes.created.append(task("second", request_id="req-1"))
    with pytest.raises(Conflict):
        await store.commit(changes)
    await _nothing_applied(store)
    assert (await store.task_by_request_id("req-1")).id == "first"


async def test_a_taken_dataset_id_is_a_conflict_and_nothing_is_applied(store: Store) -> None:
    await store.commit(Changes(new_datasets=[dataset("d.csv", created=1.0)]))
    changes = await _everything_else(store)
    changes.new_datasets.append(dataset("d.csv", created=2.0))
    with pytest.raises(Conflict):
        await store.commit(changes)
    await _nothing_applied(store)
    assert (await store.get_dataset("d.csv")).create_time == 1.0


async def test_a_taken_model_name_is_a_conflict_and_nothing_is_applied(store: Store) -> None:
    await store.commit(Changes(new_models=[model("m", created=1.0)]))
    changes = await _everything_else(store)
    changes.new_models.append(model("m", created=2.0))
    with pytest.raises(Conflict):
        await store.commit(changes)
    await _nothing_applied(store)
    assert (await store.get_model("m")).create_time == 1.0


async def test_tasks_without_a_request_id_never_conflict_on_it(store: Store) -> None:
    await store.commit(Changes(created=[task("a"), task("b")]))
    await store.commit(Changes(created=[task("c")]))
    assert (await store.list_tasks(TaskQuery())).total == 3


async def test_an_id_freed_by_a_delete_can_be_taken_in_the_same_commit(store: Store) -> None:
    await store.commit(Changes(created=[task("t", request_id="r")], new_datasets=[dataset("d.csv", 1.0)],
                               new_models=[model("m", 1.0)]))  # fmt: skip
    await store.commit(Changes(deleted=["t"], created=[task("t", 2000.0, request_id="r")],
                               deleted_datasets=["d.csv"], new_datasets=[dataset("d.csv", 2.0)],
                               deleted_models=["m"], new_models=[model("m", 2.0)]))  # fmt: skip
    assert (await store.get_task("t")).create_time == 2000.0
    assert (await store.get_dataset("d.csv")).create_time == 2.0 and (await store.get_model("m")).create_time == 2.0


async def test_commit_all_applies_each_changes_in_order_in_one_transaction(store: Store) -> None:
    first = task("t", 1.0)
    await store.commit_all([
        Changes(created=[first]), Changes(updated=[placed(first)], logs=[("t", [line(1, 1)])]),
        Changes(deleted=["t"]), Changes(created=[task("t", 2.0)], new_datasets=[dataset("d.csv")]),
    ])  # fmt: skip
    again = await store.get_task("t")
    assert (again.create_time, again.state) == (2.0, TaskState.PENDING), "the delete came before the new create"
    assert await store.logs("t") == [] and await store.attempts("t") == []
    assert await store.get_dataset("d.csv") is not None


async def test_commit_all_is_all_or_nothing(store: Store) -> None:
    await store.commit(Changes(created=[task("existing")]))
    with pytest.raises(Conflict):
        await store.commit_all([Changes(created=[task("fresh")], nodes=[node("n1")]),
                                Changes(created=[task("existing")])])  # fmt: skip
    assert await store.get_task("fresh") is None and await store.all_nodes() == []
    await store.commit_all([])  # nothing to write is no error


# Lists -----------------------------------------------------------------------------------


async def _listed(store: Store) -> None:
    await store.commit(Changes(created=[
        task("old", 1.0), task("mid-b", 2.0, concurrency_group="g"), task("mid-a", 2.0, concurrency_group="g"),
        placed(task("new", 3.0), "n1"), ended(placed(task("done", 4.0), "n2")),
    ]))  # fmt: skip


async def test_a_list_is_newest_first_with_ties_by_id_and_counts_every_match(store: Store) -> None:
    await _listed(store)
    page = await store.list_tasks(TaskQuery())
    assert [t.id for t in page.tasks] == ["done", "new", "mid-a", "mid-b", "old"] and page.total == 5


async def test_a_list_pages_and_its_total_counts_every_page(store: Store) -> None:
    await _listed(store)
    pages = [await store.list_tasks(TaskQuery(offset=offset, limit=2)) for offset in (0, 2, 4, 6)]
    assert [[t.id for t in p.tasks] for p in pages] == [["done", "new"], ["mid-a", "mid-b"], ["old"], []]
    assert {p.total for p in pages} == {5}


@pytest.mark.parametrize(
    ("query", "ids"),
    [
        (TaskQuery(states=(TaskState.PENDING,)), ["mid-a", "mid-b", "old"]),
        (TaskQuery(states=(TaskState.RUNNING, TaskState.COMPLETED)), ["done", "new"]),
        (TaskQuery(node_id="n1"), ["new"]),
        (TaskQuery(concurrency_group="g"), ["mid-a", "mid-b"]),
        (TaskQuery(concurrency_group="g", states=(TaskState.RUNNING,)), []),
        (TaskQuery(node_id="n2", states=(TaskState.COMPLETED,)), ["done"]),
    ],
)
async def test_a_list_filters(store: Store, query: TaskQuery, ids: list[str]) -> None:
    await _listed(store)
    page = await store.list_tasks(query)
    assert [t.id for t in page.tasks] == ids and page.total == len(ids)


async def test_a_summary_leaves_out_a_scripts_source_requirements_and_env(store: Store) -> None:
    await store.commit(Changes(created=[task("s", 2.0), task("t", 1.0, spec=TRAINING)]))
    [script_row, training_row] = (await store.list_tasks(TaskQuery(summary=True))).tasks
    assert script_row.spec == replace(FULL_SCRIPT, source="", requirements="", env={})
    assert training_row.spec == TRAINING, "a training spec is small: kept whole"
    assert script_row.artifacts == ()
    full = (await store.list_tasks(TaskQuery(summary=False))).tasks
    assert [t.spec for t in full] == [FULL_SCRIPT, TRAINING]
    assert (await store.get_task("s")).spec == FULL_SCRIPT, "a read of one task is always full"


async def test_a_state_update_never_rewrites_a_spec(store: Store) -> None:
    await store.commit(Changes(created=[task("t", held=True, time_limit_seconds=5)]))
    summary = (await store.list_tasks(TaskQuery())).tasks[0]
    # The domain may update a task it read from a list: its summary spec must not wipe the script.
    changed = replace(summary, state=TaskState.CANCELLED, state_reason="cancelled", held=False, time_limit_seconds=9)
    await store.commit(Changes(updated=[changed]))
    stored = await store.get_task("t")
    assert (stored.spec, stored.held, stored.time_limit_seconds) == (FULL_SCRIPT, True, 5)
    assert (stored.state, stored.state_reason) == (TaskState.CANCELLED, "cancelled")


async def test_a_respecified_task_gets_its_new_spec_hold_and_time_limit(store: Store) -> None:
    await store.commit(Changes(created=[task("t", held=True, time_limit_seconds=5)]))
    new = ScriptSpec(source="print(2)")
    await store.commit(Changes(respecified=[replace(task("t"), spec=new, held=False, time_limit_seconds=9,
                                                    state_reason="waiting to be scheduled")]))  # fmt: skip
    stored = await store.get_task("t")
    assert (stored.spec, stored.held, stored.time_limit_seconds, stored.state_reason) == (
        new, False, 9, "waiting to be scheduled")  # fmt: skip


# Task queries ------------------------------------------------------------------------------


async def test_active_tasks_are_the_non_terminal_ones_oldest_first(store: Store) -> None:
    await _listed(store)
    active = await store.active_tasks()
    ids = [t.id for t in active]
    assert (ids[0], set(ids[1:3]), ids[3:]) == ("old", {"mid-a", "mid-b"}, ["new"]), "the mids tie on create time"
    assert active[-1] == placed(task("new", 3.0), "n1"), "whole tasks, for the scheduler"


async def test_counts_by_state_leave_out_states_with_none(store: Store) -> None:
    await _listed(store)
    assert await store.count_tasks_by_state() == {TaskState.PENDING: 3, TaskState.RUNNING: 1, TaskState.COMPLETED: 1}


async def test_completed_tasks_with_an_output_model_oldest_end_first(store: Store) -> None:
    await store.commit(Changes(created=[
        ended(task("late", 5.0, output_model="m2")), ended(task("early", 1.0, output_model="m1")),
        ended(task("no-model", 0.0)), ended(task("failed", 0.0, output_model="m3"), TaskState.FAILED),
        task("pending", 0.0, output_model="m4"),
    ]))  # fmt: skip
    assert [t.id for t in await store.completed_with_output_model()] == ["early", "late"]


@pytest.mark.parametrize(
    "changes",
    [
        Changes(created=[task("a"), task("a", 5.0)]),
        Changes(created=[task("a", request_id="r"), task("b", request_id="r")]),
        Changes(new_datasets=[dataset("d.csv"), dataset("d.csv", 2.0)]),
        Changes(new_models=[model("m"), model("m", 2.0)]),
    ],
    ids=["task-id", "request-id", "dataset-id", "model-name"],
)
async def test_a_key_taken_twice_within_one_commit_is_a_conflict(store: Store, changes: Changes) -> None:
    with pytest.raises(Conflict):
        await store.commit(changes)
    assert await store.get_task("a") is None and await store.get_dataset("d.csv") is None
    assert await store.get_model("m") is None


# A list with each task's current epoch (the Server Management sessions list) ------------------------


async def test_a_page_reads_the_current_attempts_last_epoch_of_each_task(store: Store) -> None:
    first, second, fresh = (placed(task(i, created, spec=TRAINING, concurrency_group="sessions"))
                            for i, created in (("s1", 1.0), ("s2", 2.0), ("s3", 3.0)))  # fmt: skip
    second = placed(second, attempt=2)  # its second attempt: the first attempt's epochs do not count
    other = placed(task("other", 4.0, spec=TRAINING))
    points = [("s1", MetricPoint(1, e, {"loss": 1.0}, 10.0)) for e in (1, 2, 3)]
    points += [("s2", MetricPoint(1, e, {"loss": 1.0}, 10.0)) for e in (1, 2, 3, 4)]
    points += [("s2", MetricPoint(2, 1, {"loss": 1.0}, 11.0)), ("other", MetricPoint(1, 9, {}, 12.0))]
    await store.commit(Changes(created=[first, second, fresh, other], metrics=points))
    page = await store.list_tasks(TaskQuery(concurrency_group="sessions", last_epochs=True))
    assert [t.id for t in page.tasks] == ["s3", "s2", "s1"] and page.total == 3
    assert page.last_epochs == {"s1": 3, "s2": 1}  # s3 has none yet
    assert (await store.list_tasks(TaskQuery(concurrency_group="sessions"))).last_epochs == {}


async def test_the_page_with_epochs_is_one_statement(sqlite_store: SqliteStore) -> None:
    """One statement for the page whatever its length (it was one metrics read per session)."""
    sessions = [placed(task(f"s{i}", float(i), spec=TRAINING, concurrency_group="sessions")) for i in range(30)]
    points = [(s.id, MetricPoint(1, e, {"loss": 1.0}, 10.0)) for s in sessions for e in (1, 2)]
    await sqlite_store.commit(Changes(created=sessions, metrics=points))
    statements: list[str] = []
    readers = sqlite_store.db._all_readers  # the read connections a list can take
    for conn in readers:
        await conn.set_trace_callback(statements.append)
    page = await sqlite_store.list_tasks(TaskQuery(concurrency_group="sessions", limit=1000, last_epochs=True))
    for conn in readers:
        await conn.set_trace_callback(None)
    assert len(page.tasks) == 30 and set(page.last_epochs.values()) == {2}
    assert len([s for s in statements if s.lstrip().upper().startswith("SELECT")]) == 1, statements


async def test_pages_over_several_states_are_in_order_and_complete(store: Store) -> None:
    """Several states (each walked on its own index in the SQLite store) page like one list: newest first, ties by id."""
    states = [TaskState.COMPLETED, TaskState.FAILED, TaskState.CANCELLED, TaskState.PENDING]
    tasks = [replace(task(f"t{i:02d}", float(i // 3)), state=states[i % 4]) for i in range(40)]
    await store.commit(Changes(created=tasks))
    wanted = (TaskState.COMPLETED, TaskState.FAILED, TaskState.CANCELLED)
    expected = [t.id for t in sorted((t for t in tasks if t.state in wanted), key=lambda t: (-t.create_time, t.id))]
    got: list[str] = []
    for offset in range(0, 40, 7):
        page = await store.list_tasks(TaskQuery(states=wanted, offset=offset, limit=7))
        assert page.total == len(expected)
        got += [t.id for t in page.tasks]
    assert got == expected

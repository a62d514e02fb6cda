"""A change the store refuses as a conflict costs only itself and what was computed on top of it.

The race: a create checks the store for its id, then (while it waits for the lock) a task of
that id is created and cancelled, so the id is free in the working view but taken on disk; the
commit refuses it. Every other change, in its batch or queued behind it, must end either
acknowledged and in the working view (so the scheduler places it), or failed to its caller.
The SQLite store on a temp file, gated at chosen points; the real domain.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from controller.domain.errors import AlreadyExists
from controller.domain.store import Changes, StoreUnavailable
from controller.domain.types import TaskState
from controller.store.sqlite_store import SqliteStore
from domain_parts import Parts, assignments, drained, script


class Gate:
    """Holds the first call that matches until released."""

    def __init__(self, matches: Callable[..., bool]) -> None:
        self.matches = matches
        self.entered = asyncio.Event()
        self.release = asyncio.Event()
        self.used = False

    async def pass_through(self, *args: object) -> None:
        if not self.used and self.matches(*args):
            self.used = True
            self.entered.set()
            await self.release.wait()


class GatedSqliteStore(SqliteStore):
    """The real SQLite store, whose reads of task states and commits can be held at a gate."""

    state_gates: list[Gate]
    commit_gates: list[Gate]

    async def task_states(self, task_ids: Sequence[str]) -> dict[str, TaskState]:
        states = await super().task_states(task_ids)  # read first: the answer is the one from before the gate
        for gate in self.state_gates:
            await gate.pass_through(task_ids)
        return states

    async def commit_all(self, batch: Sequence[Changes]) -> None:
        for gate in self.commit_gates:
            await gate.pass_through(batch)
        await super().commit_all(batch)


def creates(task_id: str) -> Callable[[Sequence[Changes]], bool]:
    return lambda batch: any(t.id == task_id for c in batch for t in c.created)


def updates(task_id: str) -> Callable[[Sequence[Changes]], bool]:
    return lambda batch: any(t.id == task_id for c in batch for t in c.updated)


async def opened(tmp_path: Path) -> tuple[Parts, GatedSqliteStore]:
    store = await GatedSqliteStore.open(tmp_path / "controller.db")
    store.state_gates, store.commit_gates = [], []
    parts = await Parts.open(store)  # type: ignore[arg-type]
    await parts.join("n1", cpus=64)
    return parts, store


async def refused_create_in_flight(parts: Parts, store: GatedSqliteStore) -> tuple[asyncio.Task, Gate]:
    """A create of "x" whose store check passed before "x" was created and cancelled, held at its commit."""
    checked = Gate(lambda ids: list(ids) == ["x"])
    store.state_gates.append(checked)
    late = asyncio.create_task(parts.actions.create(script("x")))
    await checked.entered.wait()  # it saw no "x" on disk
    store.state_gates.clear()
    await parts.actions.create(script("x"))
    await parts.actions.cancel("x")  # terminal: out of the working view, so the late create passes it too
    commit = Gate(creates("x"))
    store.commit_gates.append(commit)
    checked.release.set()
    await commit.entered.wait()
    return late, commit


async def wait_for(condition: Callable[[], bool]) -> None:
    for _ in range(500):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the condition never held")


async def test_a_create_queued_behind_a_refused_one_is_scheduled(tmp_path: Path) -> None:
    parts, store = await opened(tmp_path)
    late, refused = await refused_create_in_flight(parts, store)
    behind = Gate(creates("y"))
    store.commit_gates.append(behind)
    queued = asyncio.create_task(parts.actions.create(script("y")))
    await wait_for(lambda: "y" in parts.book.working)  # staged behind the batch being written
    refused.release.set()
    with pytest.raises(AlreadyExists):
        await late
    await behind.entered.wait()  # "y" is being written after the refusal
    drained(parts.sessions["n1"])
    # A pass (whatever changes next) while "y" is on its way: it rebuilds the working view, and places "y".
    dispatch = asyncio.create_task(parts.dispatcher.dispatch_once())
    await wait_for(lambda: dispatch.done() or getattr(parts.book.working.get("y"), "state", None) is TaskState.ASSIGNED)
    behind.release.set()
    created = await queued
    assert created.id == "y", "acknowledged"
    await dispatch
    assert "y" in parts.book.working, "an acknowledged task is in the working view the scheduler reads"
    await parts.dispatcher.dispatch_once()
    await parts.book.flush()
    stored = await store.get_task("y")
    assert stored is not None and stored.state is TaskState.ASSIGNED, stored
    assert ("y", 1) in assignments(drained(parts.sessions["n1"])), "the node was told to run it"
    x = await store.get_task("x")
    assert x is not None and x.state is TaskState.CANCELLED, "the refused create left the first x alone"
    await parts.book.close()
    await store.close()


async def test_a_change_computed_on_top_of_a_refused_create_fails_and_never_lands(tmp_path: Path) -> None:
    """A pass placed the refused create's task while its commit was in flight: that placement must
    not land on the other task of that id (the cancelled one) nor reach the node."""
    parts, store = await opened(tmp_path)
    late, refused = await refused_create_in_flight(parts, store)
    placing = Gate(updates("x"))
    store.commit_gates.append(placing)
    drained(parts.sessions["n1"])
    dispatch = asyncio.create_task(parts.dispatcher.dispatch_once())
    await wait_for(lambda: parts.book.working.get("x") is not None
                   and parts.book.working["x"].state is TaskState.ASSIGNED)  # fmt: skip
    placing.release.set()  # nothing holds the placement itself: only the order of the queue
    refused.release.set()
    with pytest.raises(AlreadyExists):
        await late
    with pytest.raises(StoreUnavailable):
        await dispatch
    x = await store.get_task("x")
    assert x is not None and x.state is TaskState.CANCELLED and x.node_id == "", x
    assert ("x", 1) not in assignments(drained(parts.sessions["n1"]))
    # The farm goes on: a new task is created and placed.
    await parts.actions.create(script("z"))
    assert "x" not in parts.book.working, "the refused task is gone from the rebuilt working view"
    await parts.dispatcher.dispatch_once()
    await parts.book.flush()
    z = await store.get_task("z")
    assert z is not None and z.state is TaskState.ASSIGNED
    await parts.book.close()
    await store.close()

"""TaskActions.create_many, behind BatchCreateTasks: every task or none, in one commit."""

from __future__ import annotations

import pytest

from controller.domain.errors import AlreadyExists, InvalidArgument
from controller.domain.store import TaskQuery
from controller.domain.task_actions import MAX_BATCH
from controller.domain.types import TaskState
from domain_parts import Parts, script

ALL = TaskQuery(limit=100)


async def stored_ids(parts: Parts) -> set[str]:
    return {t.id for t in (await parts.store.list_tasks(ALL)).tasks}


async def test_a_batch_is_committed_at_once_in_the_order_given() -> None:
    parts = await Parts.open()
    commits = parts.store.commits
    made = await parts.actions.create_many([script("a"), script("b"), script("")])
    assert [t.id for t in made[:2]] == ["a", "b"] and len(made[2].id) == 16, "an empty id is generated"
    assert all(t.state is TaskState.PENDING and t.create_time == parts.clock() for t in made)
    assert parts.store.commits == commits + 1, "one commit for the batch"
    assert await stored_ids(parts) == {t.id for t in made}
    assert parts.book.wakeup.is_set()


@pytest.mark.parametrize(
    ("batch", "words"),
    [
        ([script("a"), script("b", source="")], "requests[1]: "),
        ([script("a"), script("a")], "requests[1]: task id 'a' is also that of requests[0]"),
        ([script("a", request_id="r"), script("b", request_id="r")], "requests[1]: request id 'r' appears twice"),
        ([script("a"), script("b", depends_on=("nobody",))], "requests[1]: depends_on names unknown tasks: nobody"),
        ([script("a", depends_on=("b",)), script("b")], "requests[0]: depends_on names unknown tasks: b"),
        ([script("a"), script("bad id!")], "requests[1]: invalid task id"),
    ],
)
async def test_one_refused_request_refuses_the_batch_and_changes_nothing(batch: list, words: str) -> None:
    parts = await Parts.open()
    commits = parts.store.commits
    with pytest.raises(InvalidArgument) as refused:
        await parts.actions.create_many(batch)
    assert str(refused.value).startswith(words) or words in str(refused.value), refused.value
    assert parts.store.commits == commits and await stored_ids(parts) == set() and not parts.book.working


async def test_a_taken_id_refuses_the_batch_naming_its_request() -> None:
    parts = await Parts.open()
    await parts.actions.create(script("old"))
    with pytest.raises(AlreadyExists, match=r"requests\[1\]: task 'old' already exists"):
        await parts.actions.create_many([script("new"), script("old")])
    assert await stored_ids(parts) == {"old"}


async def test_a_task_may_depend_on_an_earlier_one_of_its_batch() -> None:
    parts = await Parts.open()
    await parts.actions.create(script("before"))
    made = await parts.actions.create_many([script("a"), script("b", depends_on=("a", "before"))])
    assert made[1].depends_on == ("a", "before")
    await parts.join("n1")
    await parts.dispatcher.dispatch_once()
    assert parts.book.active["b"].state is TaskState.PENDING, "b waits for a"
    assert parts.book.active["a"].state is TaskState.ASSIGNED


async def test_a_retried_batch_answers_the_tasks_its_request_ids_made() -> None:
    parts = await Parts.open()
    first = await parts.actions.create_many([script("a", request_id="ra"), script("b", request_id="rb")])
    parts.clock.advance(5)
    again = await parts.actions.create_many([script("", request_id="ra"), script("c", request_id="rc"),
                                            script("", request_id="rb")])  # fmt: skip
    assert [t.id for t in again] == ["a", "c", "b"]
    assert again[0].create_time == first[0].create_time, "the first task, not a new one"
    assert await stored_ids(parts) == {"a", "b", "c"}


async def test_an_empty_or_oversized_batch_is_refused() -> None:
    parts = await Parts.open()
    with pytest.raises(InvalidArgument, match="at least one"):
        await parts.actions.create_many([])
    with pytest.raises(InvalidArgument, match=f"at most {MAX_BATCH}"):
        await parts.actions.create_many([script(f"t{i}") for i in range(MAX_BATCH + 1)])

"""AI Factory client groups in the domain, on the memory store with aifarm's own task backend: what
a create checks and submits, a group's job read back, deletes that end the job, observers handed to
every process, and a restart that keeps it all. The processes' HTTP edge is a recorder here; the
doors' tests run real client processes."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from controller.domain.client_group_tasks import BENCHMARK_LABEL, TaskBackend
from controller.domain.client_groups import ClientGroups, GroupState, ProcessAnswer
from controller.domain.errors import AlreadyExists, InvalidArgument, NotFound, Unavailable
from controller.domain.types import TaskState
from domain_parts import Parts
from taskspec.script import ScriptSpec

SERVICE = "http://127.0.0.1:8001/api/v1"


class RecordingCaller:
    """The HTTP edge: records what was sent and answers 200, or 0 for addresses in `down`."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str, Mapping[str, Any] | None]] = []
        self.down: set[str] = set()

    async def post(self, address: str, path: str, body: Mapping[str, Any] | None) -> ProcessAnswer:
        self.sent.append((address, path, body))
        if address in self.down:
            return ProcessAnswer(address, 0, "ClientConnectorError")
        return ProcessAnswer(address, 200, '{"status": "started", "num_clients": 3}')


async def _groups(parts: Parts, caller: RecordingCaller) -> ClientGroups:
    backend = TaskBackend(parts.book, parts.actions, api_key="k")
    groups = ClientGroups(parts.store.client_groups(), {"aifarm": backend}, "aifarm", caller, service_url=SERVICE,
                          default_target="http://127.0.0.1:9/", clock=parts.clock)  # fmt: skip
    await groups.load()
    return groups


async def test_a_create_is_checked_then_submits_one_task_with_the_groups_time_limit() -> None:
    parts = await Parts.open()
    groups = await _groups(parts, RecordingCaller())
    for args in [(1, None), (1, 0), (1, 3, 0), (-1, 3), (1, 3, 5, "ftp://x")]:
        with pytest.raises(InvalidArgument):
            await groups.create(*args)  # type: ignore[arg-type]
    assert not parts.book.active, "a refused create submits nothing"
    group = await groups.create(123, 3, 10)
    assert (group.state, group.time_limit_minutes, group.server_addr) == (GroupState.SUBMITTED, 10, "http://127.0.0.1:9/")
    backend, _, task_id = group.job_id.partition(":")
    task = parts.book.active[task_id]
    assert backend == "aifarm" and task.time_limit_seconds == 600 and task.labels == {BENCHMARK_LABEL: "123"}
    assert isinstance(task.spec, ScriptSpec) and task.spec.env == {"AIFARM_API_KEY": "k"}
    assert task.spec.args == ("--benchmark-id", "123", "--num-clients", "3", "--service-url", SERVICE, "--port", "0",
                              "--server-addr", "http://127.0.0.1:9/")  # fmt: skip
    with pytest.raises(AlreadyExists, match="Group already exists"):
        await groups.create(123, 1)
    assert (await groups.create(124, 1)).time_limit_minutes == 5, "the document's default"


async def test_connect_run_observers_and_figures() -> None:
    parts = await Parts.open()
    caller = RecordingCaller()
    groups = await _groups(parts, caller)
    await groups.create(7, 3)
    with pytest.raises(Unavailable, match="no registered client process"):
        await groups.run(7)
    with pytest.raises(NotFound, match="Benchmark id not found"):
        await groups.connect(8, "http://10.0.0.1:9000")
    with pytest.raises(InvalidArgument):
        await groups.connect(7, "not a url")
    await groups.add_observer("10.0.0.9", "8080", {"frequency": "1s"})
    group = await groups.connect(7, "http://10.0.0.1:9000/")
    assert group.state is GroupState.RUNNING and group.client_addresses == ("http://10.0.0.1:9000",)
    assert caller.sent == [("http://10.0.0.1:9000", "/observer",
                            {"ip_address": "10.0.0.9", "port": "8080", "update_preferences": {"frequency": "1s"}})]
    await groups.connect(7, "http://10.0.0.2:9000")
    await groups.add_observer("10.0.0.10", 9090, {})
    assert {a for a, p, _ in caller.sent[-2:]} == {"http://10.0.0.1:9000", "http://10.0.0.2:9000"}
    for port in ("x", 0, 70000):
        with pytest.raises(InvalidArgument):
            await groups.add_observer("10.0.0.9", port, {})

    caller.down.add("http://10.0.0.2:9000")
    answers = await groups.run(7, {"requests_per_client": 5})
    assert [(a.address, a.status_code) for a in answers] == [("http://10.0.0.1:9000", 200), ("http://10.0.0.2:9000", 0)]
    assert caller.sent[-1][2] == {"requests_per_client": 5}
    caller.down.add("http://10.0.0.1:9000")
    with pytest.raises(Unavailable, match="Unexpected error while running client group"):
        await groups.run(7)

    await groups.report_figures(7, "http://10.0.0.1:9000", {"requests": 60, "errors": 0})
    with pytest.raises(InvalidArgument, match="not a registered client process"):
        await groups.report_figures(7, "http://10.0.0.3:9000", {"requests": 1})
    assert groups.get(7).figures == {"http://10.0.0.1:9000": {"requests": 60, "errors": 0}}


async def test_the_job_is_read_back_a_delete_ends_it_and_a_restart_keeps_the_groups() -> None:
    parts = await Parts.open()
    groups = await _groups(parts, RecordingCaller())
    first = await groups.create(1, 2)
    second = await groups.create(2, 2)
    await groups.add_observer("10.0.0.9", "8080", {})
    await groups.watch_once()
    assert groups.get(1).state is GroupState.SUBMITTED

    await parts.actions.cancel(first.job_id.partition(":")[2], "node drained")
    await groups.watch_once()
    ended = groups.get(1)
    assert ended.state is GroupState.ENDED and ended.state_reason.startswith("task cancelled")

    deleted = await groups.delete(2)
    task_id = second.job_id.partition(":")[2]
    cancelled = parts.book.working.get(task_id) or await parts.store.get_task(task_id)
    assert deleted.benchmark_id == 2 and cancelled is not None and cancelled.state is TaskState.CANCELLED
    with pytest.raises(NotFound):
        groups.get(2)

    again = await _groups(await parts.restart(), RecordingCaller())
    assert [g.benchmark_id for g in again.list()] == [1] and again.get(1).state is GroupState.ENDED
    assert [o.key for o in again.observers()] == ["10.0.0.9:8080"]

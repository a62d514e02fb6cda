"""The token bucket and the declared limits behind AI Farm's rate limit (controller.api.rate_limit)."""

from __future__ import annotations

from aifarm.compat.aifarm.v1 import tasks_service_pb2
from aifarm.v1 import task_service_pb2
from controller.api.rate_limit import TokenBucket, declared_limits


def test_a_bucket_empties_and_refills_over_a_minute() -> None:
    bucket = TokenBucket(capacity=3, tokens=3.0, updated=0.0)
    assert [bucket.take(0.0) for _ in range(4)] == [True, True, True, False]
    assert not bucket.take(19.0), "a third of a minute refills one token of three, not yet at 19 s"
    assert bucket.take(20.5) and not bucket.take(20.5)
    assert bucket.take(1000.0) and bucket.tokens == 2.0, "never more than its capacity"
    assert dict(bucket.headers(1000.0))["x-ratelimit-remaining"] == "2"


def test_limits_are_the_declared_ones_unless_overridden() -> None:
    services = [tasks_service_pb2.DESCRIPTOR.services_by_name["TasksService"],
                task_service_pb2.DESCRIPTOR.services_by_name["TaskService"]]  # fmt: skip
    declared = declared_limits(services)
    assert declared["/aifarm.compat.aifarm.v1.TasksService/ListTasks"] == 60
    assert not any(path.startswith("/aifarm.v1.") for path in declared), "the core API declares none"
    assert set(declared_limits(services, 5).values()) == {5}
    assert declared_limits(services, 0) == {}

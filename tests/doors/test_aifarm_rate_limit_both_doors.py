"""AI Farm's rate limit (seeds/001): 60 calls a minute per API key, declared in the protos
(http_service.rate_limit_per_minute) and kept by the controller in a token bucket, so both
doors share it. Every answer says X-RateLimit-Limit/Remaining/Reset; an empty bucket is a 429
with the document's error object."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from both_doors import Doors
from conftest import Farm, running_farm

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def farm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Farm]:
    """This module's farm keeps the declared limits (the other modules' farms turn them off)."""
    yield from running_farm(tmp_path_factory.mktemp("farm"), [])


def _limit_headers(answer: Any) -> tuple[int, int, int]:
    h = answer.headers
    return int(h["X-RateLimit-Limit"]), int(h["X-RateLimit-Remaining"]), int(h["X-RateLimit-Reset"])


def test_every_answer_says_the_limit_and_an_empty_bucket_is_429(both_doors: Doors) -> None:
    for answer in both_doors.ask("GET", "/api/tasks/no-such-task"):  # errors carry them too
        assert answer.status == 404, answer.describe()
        limit, remaining, reset = _limit_headers(answer)
        assert limit == 60 and 0 <= remaining < 60 and reset >= time.time() - 1
    assert "X-RateLimit-Limit" not in both_doors.gateway.call("GET", "/v1/tasks").headers, "only where declared"
    refused = None
    for i in range(90):  # 60 at once, plus about one a second refilled while this runs
        door = both_doors.gateway if i % 2 else both_doors.envoy
        reply = door.call("GET", ("/api/metrics", "/api/clients", "/api/tasks?limit=1")[i % 3])  # one bucket for the API
        if reply.status_code == 429:
            refused = (door.name, reply)
            break
        assert reply.status_code == 200, reply.text
    assert refused is not None, "the bucket never ran out"
    name, reply = refused
    assert i >= 58, f"refused after only {i} calls"
    body = reply.json()["error"]
    assert body["code"] == "RATE_LIMIT_EXCEEDED" and "60" in body["message"], (name, body)
    assert reply.headers["X-RateLimit-Remaining"] == "0" and reply.headers["X-API-Version"] == "1.0"
    assert int(reply.headers["X-RateLimit-Reset"]) > time.time()

"""AI Farm's X-API-Version (seeds/001), declared once per service in the protos
(aifarm.options.v1.http_service) and added by both doors to every answer of those services:
replies and errors alike, and not to other surfaces."""

from __future__ import annotations

import pytest

from both_doors import Doors

pytestmark = pytest.mark.slow


@pytest.mark.parametrize(("method", "path", "status"), [
    ("GET", "/api/tasks", 200),
    ("GET", "/api/tasks/no-such-task", 404),
    ("PUT", "/api/tasks/no-such-task/status", 404),
    ("POST", "/api/tasks", 400),
    ("GET", "/api/clients", 200),
    ("GET", "/api/metrics", 200),
    ("GET", "/api/metrics/tasks/no-such-task", 404),
])  # fmt: skip
def test_every_answer_of_the_surface_says_its_api_version(both_doors: Doors, method: str, path: str, status: int) -> None:
    body = {"status": "paused"} if method == "PUT" else ({"type": "no-such-type"} if method == "POST" else None)
    for answer in both_doors.ask(method, path, json=body):
        assert answer.status == status, answer.describe()
        assert answer.headers.get("X-API-Version") == "1.0", (answer.door, dict(answer.headers))


def test_other_surfaces_do_not(both_doors: Doors) -> None:
    for answer in both_doors.ask("GET", "/v1/tasks"):
        assert answer.status == 200, answer.describe()
        assert "X-API-Version" not in answer.headers, (answer.door, dict(answer.headers))

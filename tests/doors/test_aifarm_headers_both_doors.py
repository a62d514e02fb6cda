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


def test_a_list_of_25_tasks_in_pages_of_10_says_so_in_its_headers(both_doors: Doors) -> None:
    for _ in range(13):  # 26 through the two doors; then 25 or more in all
        for answer in both_doors.ask("POST", "/api/tasks", json={"name": "mlp", "requirements": {"min_ram": 1 << 30}}):
            assert answer.status == 201, answer.describe()
    total = both_doors.ask("GET", "/api/tasks")[0].body["total"]
    pages = -(-total // 10)
    for answer in both_doors.ask("GET", "/api/tasks?page=2&limit=10"):
        assert answer.status == 200, answer.describe()
        assert answer.headers["X-Total-Count"] == str(total) and answer.headers["X-Page-Count"] == str(pages)
        links = answer.headers["Link"]
        assert '</api/tasks?page=3&limit=10>; rel="next"' in links, links
        assert '</api/tasks?page=1&limit=10>; rel="prev"' in links, links
        assert f'</api/tasks?page={pages}&limit=10>; rel="last"' in links, links
    for answer in both_doors.ask("GET", f"/api/tasks?page={pages}&limit=10"):
        assert 'rel="next"' not in answer.headers["Link"], answer.headers["Link"]

"""Error bodies in each surface's words, the same from both doors (issue 11, items 1 and 2).

Each surface declares its shape with `aifarm.options.v1.error_body` (ShelbyCompute and the Server
Management API: FastAPI's {"detail"}; the core API: google.rpc.Status JSON). One farm, the Python
gateway and Envoy in front of it at once; every case is asked of both and must get the same status
and a body of the surface's shape (the same body, where the controller wrote the message).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import pytest
import requests

from conftest import MAX_BODY_BYTES, Door, Farm, start_door
from farm_processes import API_KEY

DOORS = ("gateway", "envoy")


@pytest.fixture(scope="module")
def doors(farm: Farm, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Door]]:
    procs = {kind: start_door(kind, tmp_path_factory.mktemp(kind), farm.controller.address) for kind in DOORS}
    yield {kind: Door(kind, proc.url) for kind, proc in procs.items()}
    for proc in procs.values():
        proc.stop()


@dataclass(frozen=True)
class Surface:
    name: str
    missing: str
    """A GET the servicer answers 404."""
    guarded: str
    """A GET that needs an API key."""
    create: str
    """A POST with a JSON body that needs an API key."""
    good_body: dict[str, Any]
    """A body `create` accepts."""
    unknown: str
    """A path under the surface's prefix that names no method."""
    bad_json_status: int
    """The status of a malformed body at `create` (the method's declared code for INVALID_ARGUMENT)."""
    created_status: int


SURFACES = [
    Surface("servermgmt", "/api/v1/training/sess_nope/status", "/api/v1/training/sessions", "/api/v1/training/start",
            {"model_architecture": "mlp", "dataset_name": "nope", "learning_rate": 0.01, "batch_size": 32, "epochs": 1}, "/api/v1/nope", 422, 200),
    Surface("shelby", "/api/frontend/jobs/nope", "/api/frontend/dashboard", "/api/jobs/create",
            {"datasetName": "d"}, "/api/jobs/nope", 422, 200),
    Surface("core", "/v1/tasks/nope", "/v1/tasks", "/v1/tasks",
            {"display_name": "t", "script": {"source": "print(1)"}, "paused": True}, "/v1/nope", 400, 201),
]  # fmt: skip


def assert_shape(surface: Surface, reply: requests.Response) -> Any:
    """The body is exactly the surface's shape; returns its message."""
    assert reply.headers["content-type"].startswith("application/json"), reply.headers
    body = reply.json()
    if surface.name == "core":
        assert set(body) == {"code", "message", "details"} and isinstance(body["code"], int), body
        return body["message"]
    assert set(body) == {"detail"} and isinstance(body["detail"], str), body
    return body["detail"]


def ask(doors: dict[str, Door], method: str, path: str, **kw: Any) -> dict[str, requests.Response]:
    return {kind: door.call(method, path, **kw) for kind, door in doors.items()}


def same_status(replies: dict[str, requests.Response], expected: int) -> None:
    statuses = {kind: r.status_code for kind, r in replies.items()}
    assert set(statuses.values()) == {expected}, {k: (r.status_code, r.text[:300]) for k, r in replies.items()}


@pytest.mark.parametrize("surface", SURFACES, ids=lambda s: s.name)
def test_servicer_error(doors: dict[str, Door], surface: Surface) -> None:
    replies = ask(doors, "GET", surface.missing)
    same_status(replies, 404)
    for reply in replies.values():
        assert "nope" in assert_shape(surface, reply)
    # The controller wrote it: the same body through both doors, byte for byte in JSON.
    assert replies["gateway"].json() == replies["envoy"].json()


@pytest.mark.parametrize("surface", SURFACES, ids=lambda s: s.name)
@pytest.mark.parametrize("key", [None, "wrong"])
def test_unauthenticated(doors: dict[str, Door], surface: Surface, key: str | None) -> None:
    replies = ask(doors, "GET", surface.guarded, key=key)
    same_status(replies, 401)
    messages = {assert_shape(surface, reply) for reply in replies.values()}
    assert len(messages) == 1 and "API key" in messages.pop()
    assert replies["gateway"].json() == replies["envoy"].json()


@pytest.mark.parametrize("surface", SURFACES, ids=lambda s: s.name)
def test_unknown_route_under_the_prefix(doors: dict[str, Door], surface: Surface) -> None:
    replies = ask(doors, "GET", surface.unknown)
    same_status(replies, 404)
    for reply in replies.values():
        assert_shape(surface, reply)


@pytest.mark.parametrize("surface", SURFACES, ids=lambda s: s.name)
def test_body_over_the_limit(doors: dict[str, Door], surface: Surface) -> None:
    big = json.dumps({"pad": "x" * (MAX_BODY_BYTES + 10)})
    replies = ask(doors, "POST", surface.create, data=big, headers={"Content-Type": "application/json"})
    same_status(replies, 413)
    for reply in replies.values():
        assert_shape(surface, reply)


@pytest.mark.parametrize("surface", SURFACES, ids=lambda s: s.name)
def test_malformed_json(doors: dict[str, Door], surface: Surface) -> None:
    replies = ask(doors, "POST", surface.create, data=b"{not json", headers={"Content-Type": "application/json"})
    same_status(replies, surface.bad_json_status)
    for reply in replies.values():
        assert_shape(surface, reply)


@pytest.mark.parametrize("surface", SURFACES, ids=lambda s: s.name)
@pytest.mark.parametrize("key", [None, "wrong"])
def test_bad_body_without_a_key_is_401(doors: dict[str, Door], surface: Surface, key: str | None) -> None:
    """Authentication before the body: no key (or a wrong one) and a body that cannot be parsed is a 401."""
    replies = ask(doors, "POST", surface.create, key=key, data=b"{not json", headers={"Content-Type": "application/json"})
    if key == "wrong":
        # Envoy parses the body before any upstream call and cannot tell a wrong key from a good one
        # (README, "Where Envoy differs"); the Python gateway asks the controller first.
        assert replies["gateway"].status_code == 401
        assert replies["envoy"].status_code == surface.bad_json_status
        return
    same_status(replies, 401)
    for reply in replies.values():
        assert "API key" in assert_shape(surface, reply)


def test_a_good_key_with_a_bad_body_gets_the_doors_own_message(doors: dict[str, Door]) -> None:
    """The gateway's probe past the auth check is refused by the controller's decoding, and the
    caller is told what was wrong with the body, not that bytes did not decode."""
    reply = doors["gateway"].call("POST", "/v1/tasks", data=b'{"display_name": 5}', headers={"Content-Type": "application/json"})
    assert reply.status_code == 400 and "display_name" in reply.json()["message"], reply.text


@pytest.mark.parametrize("surface", SURFACES, ids=lambda s: s.name)
def test_unknown_body_fields_are_ignored(doors: dict[str, Door], surface: Surface) -> None:
    body = {**surface.good_body, "an_unknown_field": {"nested": [1, 2]}, "another": 1}
    replies = ask(doors, "POST", surface.create, json=body)
    if surface.name == "servermgmt":
        # A missing dataset is the servicer's 404: the unknown fields got it that far.
        same_status(replies, 404)
        return
    same_status(replies, surface.created_status)


def test_a_shelby_wrong_type_stays_a_clear_error(doors: dict[str, Door]) -> None:
    replies = ask(doors, "POST", "/api/jobs/create", json={"datasetName": {"not": "a string"}})
    same_status(replies, 422)
    for reply in replies.values():
        assert "datasetName" in reply.json()["detail"], reply.text


def test_no_key_header_is_needed_on_open_methods(doors: dict[str, Door]) -> None:
    """The Envoy 401-before-body check spares the methods marked allow_unauthenticated."""
    replies = ask(doors, "GET", "/health", key=None)
    same_status(replies, 200)


def test_api_key_header_counts_as_a_credential(doors: dict[str, Door]) -> None:
    replies = {kind: requests.get(door.url + "/v1/tasks/nope", headers={"X-API-Key": API_KEY}, timeout=30)
               for kind, door in doors.items()}  # fmt: skip
    same_status(replies, 404)

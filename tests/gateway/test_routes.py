"""gateway.routes: routes from descriptors (additional_bindings, success codes) and matching."""

from __future__ import annotations

from types import ModuleType

import pytest

from gateway.http_rule import UnescapeSpec
from gateway.routes import Route, RouteError, RouteTable, routes_of

SERVICE = "gwtest.v1.GwTestService"


def _routes(table: RouteTable, method: str) -> list[Route]:
    return [r for r in table.routes if r.method == method]


def _match(table: RouteTable, http_method: str, path: str) -> tuple[str, dict[str, str]] | None:
    m = table.match(http_method, path)
    return None if m is None else (m.route.method, {".".join(k): v for k, v in m.bindings.items()})


def test_every_rule_becomes_a_route(table: RouteTable) -> None:
    methods = {r.method for r in table.routes}
    assert "Hidden" not in methods  # no google.api.http rule
    assert "Collect" not in methods  # client streaming is not served over REST...
    upload = _routes(table, "StreamUpload")  # ...but as a streamed upload, when the body is an HttpBody
    assert [(r.client_streaming, r.raw_request_body, r.body) for r in upload] == [(True, True, "file")]
    assert upload[0].error_statuses == ((8, 413),)
    assert not any(r.client_streaming for r in table.routes if r.method != "StreamUpload")
    assert {"Echo", "GetFile", "Cancel", "Upload", "Download", "Watch", "HeadItem", "AnyMethod"} <= methods
    assert all(r.service == SERVICE for r in table.routes)


def test_additional_bindings(table: RouteTable) -> None:
    echo = {(r.http_method, r.template.source): r for r in _routes(table, "Echo")}
    assert set(echo) == {("GET", "/v1/items/{id}"), ("POST", "/v1/echo"), ("PATCH", "/v1/items/{id}")}
    assert (echo["GET", "/v1/items/{id}"].body, echo["GET", "/v1/items/{id}"].response_body) == ("", "")
    assert echo["POST", "/v1/echo"].body == "*"
    assert (echo["PATCH", "/v1/items/{id}"].body, echo["PATCH", "/v1/items/{id}"].response_body) == ("inner", "inner")
    assert _match(table, "GET", "/v1/items/a") == ("Echo", {"id": "a"})
    assert _match(table, "POST", "/v1/echo") == ("Echo", {})
    assert _match(table, "PATCH", "/v1/items/a") == ("Echo", {"id": "a"})


def test_route_properties(table: RouteTable) -> None:
    (cancel,) = _routes(table, "Cancel")
    assert cancel.grpc_path == "/gwtest.v1.GwTestService/Cancel"
    assert cancel.operation_id == "gwtest.v1.GwTestService.Cancel"
    assert cancel.template.verb == "cancel"
    assert cancel.input.full_name == cancel.output.full_name == "gwtest.v1.Item"
    assert type(cancel.new_request()).DESCRIPTOR.full_name == "gwtest.v1.Item"
    reply = cancel.new_request()
    reply.name = "items/x"  # type: ignore[attr-defined]
    assert cancel.parse_response(reply.SerializeToString()) == reply
    (watch,) = _routes(table, "Watch")
    assert watch.server_streaming and not cancel.server_streaming


@pytest.mark.parametrize(
    ("method", "code"),
    [("CreateItem", 201), ("Upload", 201), ("DeleteItem", 204), ("Echo", 200), ("GetFile", 200), ("Download", 200)],
)
def test_success_code_from_method_option(table: RouteTable, method: str, code: int) -> None:
    assert {r.success_code for r in _routes(table, method)} == {code}


@pytest.mark.parametrize(
    ("method", "raw_in", "raw_out"),
    [
        ("Upload", True, False),  # body "*" on a google.api.HttpBody request
        ("UploadNamed", True, False),  # body "file", an HttpBody field
        ("CreateItem", False, False),
        ("Download", False, True),  # the response is an HttpBody
        ("DownloadField", False, True),  # response_body names an HttpBody field
        ("ListTags", False, False),  # response_body names a repeated string
    ],
)
def test_raw_bodies(table: RouteTable, method: str, raw_in: bool, raw_out: bool) -> None:
    (route,) = _routes(table, method)
    assert (route.raw_request_body, route.raw_response_body) == (raw_in, raw_out)


def test_body_field_descriptor(table: RouteTable) -> None:
    (create,) = _routes(table, "CreateItem")
    assert create.body_field is not None and create.body_field.name == "item"
    (cancel,) = _routes(table, "Cancel")
    assert cancel.body_field is None  # body "*"
    (get,) = _routes(table, "GetFile")
    assert get.body_field is None  # no body


@pytest.mark.parametrize(
    ("http_method", "path", "expected"),
    [
        ("GET", "/v1/items/abc", ("Echo", {"id": "abc"})),
        ("get", "/v1/items/abc", ("Echo", {"id": "abc"})),  # methods are case-insensitive
        ("GET", "/v1/star/x", ("GetStar", {"id": "x"})),
        ("GET", "/v1/files/a/b/c.txt", ("GetFile", {"name": "a/b/c.txt"})),
        ("GET", "/v1/files", ("GetFile", {"name": ""})),
        ("GET", "/v1/files/a:b", ("GetFile", {"name": "a:b"})),  # 'b' is not a verb
        ("GET", "/v1/files/a/b:meta", ("GetFileMeta", {"name": "a/b"})),
        ("GET", "/v1/shelves/s1/books/b2", ("GetShelfBook", {"name": "shelves/s1/books/b2"})),
        ("PATCH", "/v1/nested/i1/leafy", ("UpdateNested", {"inner.id": "i1", "inner.leaf.name": "leafy"})),
        ("POST", "/v1/items/i1:cancel", ("Cancel", {"name": "items/i1"})),
        ("POST", "/v1/items:clear", ("ClearItems", {})),
        ("GET", "/v1/prio/special", ("PrioLiteral", {})),
        ("GET", "/v1/prio/other", ("PrioSingle", {"id": "other"})),
        ("GET", "/v1/prio/a/b", ("PrioMulti", {"name": "a/b"})),
        ("GET", "/v1/prio", ("PrioMulti", {"name": ""})),
        ("GET", "/v1/tree/a/b/leaf", ("TreeLeaf", {"name": "a/b"})),
        ("GET", "/v1/tree/a/branch/leaf", ("TreeBranchLeaf", {"name": "a"})),
        ("POST", "/v1/shelves/s1/items", ("CreateItem", {"parent": "shelves/s1"})),
        ("DELETE", "/v1/items/i1", ("DeleteItem", {"id": "i1"})),
        ("HEAD", "/v1/items/i1", ("HeadItem", {"id": "i1"})),
        ("GET", "/v1/items/i1:watch", ("Watch", {"id": "i1"})),
        ("GET", "/v1/uploads/u1:download", ("Download", {"name": "uploads/u1"})),
        ("GET", "/v1/uploads/u1/raw", ("DownloadField", {"name": "uploads/u1"})),
        ("PUT", "/v1/uploads/u1", ("UploadNamed", {"name": "uploads/u1"})),
        ("OPTIONS", "/v1/any/x", ("AnyMethod", {"id": "x"})),  # custom kind "*"
        ("GET", "/v1/any/x", ("AnyMethod", {"id": "x"})),
    ],
)
def test_match(table: RouteTable, http_method: str, path: str, expected: tuple[str, dict[str, str]]) -> None:
    assert _match(table, http_method, path) == expected


@pytest.mark.parametrize(
    ("http_method", "path"),
    [
        ("GET", "/v1/nope"),
        ("PUT", "/v1/items/abc"),  # no PUT rule on this path
        ("GET", "/v1/items/abc/def"),
        ("GET", "/v1/items/i1:cancel"),  # the verb is POST only
        ("POST", "/v1/items/i1:stop"),  # no such verb here; ':stop' stays, no POST /v1/items/{id}
        ("GET", "/v1/shelves/s1/books"),
        ("GET", "/v1/tree/leaf"),
    ],
)
def test_no_match(table: RouteTable, http_method: str, path: str) -> None:
    assert table.match(http_method, path) is None


def test_escapes_through_the_table(table: RouteTable) -> None:
    assert _match(table, "GET", "/v1/items/caf%C3%A9") == ("Echo", {"id": "café"})
    assert _match(table, "GET", "/v1/items/a%2Fb") == ("Echo", {"id": "a/b"})  # one segment: fully decoded
    assert _match(table, "GET", "/v1/files/a%2Fb/c%20d") == ("GetFile", {"name": "a%2Fb/c d"})
    assert _match(table, "POST", "/v1/items/a%2Fb:cancel") == ("Cancel", {"name": "items/a%2Fb"})


def test_unescape_spec_is_passed_to_bind(gwtest: ModuleType) -> None:
    svc = gwtest.DESCRIPTOR.services_by_name["GwTestService"]
    table = RouteTable.for_services([svc], UnescapeSpec.ALL_CHARACTERS)
    assert _match(table, "GET", "/v1/files/a%2Fb/c") == ("GetFile", {"name": "a/b/c"})
    table = RouteTable.for_services([svc], UnescapeSpec.ALL_CHARACTERS_EXCEPT_SLASH)
    assert _match(table, "GET", "/v1/files/a%2Fb%3Ac/c") == ("GetFile", {"name": "a%2Fb:c/c"})


@pytest.mark.parametrize(
    ("method", "message"),
    [
        ("NoLeadingSlash", "must start with '/'"),
        ("UnknownPathField", "names no field"),
        ("PathThroughScalar", "is not a message"),
        ("PathToMessage", "cannot be bound to a path variable"),
        ("PathThroughRepeated", "repeated"),
        ("UnknownBodyField", "body field 'nope'"),
        ("UnknownResponseBody", "response_body field 'nope'"),
        ("NoPattern", "without a pattern"),
    ],
)
def test_bad_rules_raise(gwtest: ModuleType, method: str, message: str) -> None:
    md = gwtest.DESCRIPTOR.services_by_name["GwBadService"].methods_by_name[method]
    with pytest.raises(RouteError, match=message) as info:
        routes_of(md)
    assert f"gwtest.v1.GwBadService.{method}" in str(info.value)


def test_conflicting_rules_raise(gwtest: ModuleType) -> None:
    svc = gwtest.DESCRIPTOR.services_by_name["GwConflictService"]
    with pytest.raises(RouteError, match="conflicting"):
        RouteTable.for_services([svc])


def test_same_service_twice_conflicts(gwtest: ModuleType) -> None:
    svc = gwtest.DESCRIPTOR.services_by_name["GwTestService"]
    with pytest.raises(RouteError, match="conflicting"):
        RouteTable.for_services([svc, svc])


def test_core_services_build(core_table: RouteTable) -> None:
    by_method = {(r.service.rsplit(".", 1)[-1], r.method): r for r in core_table.routes}
    assert by_method["TaskService", "CreateTask"].success_code == 201
    assert by_method["DatasetService", "DeleteDataset"].success_code == 204
    assert _match(core_table, "POST", "/v1/tasks/t1:cancel") == ("CancelTask", {"name": "tasks/t1"})
    assert _match(core_table, "GET", "/v1/tasks/t1") == ("GetTask", {"name": "tasks/t1"})
    assert _match(core_table, "GET", "/v1/tasks/") == ("ListTasks", {})
    assert _match(core_table, "GET", "/v1/tasks/t1/logs:stream") == ("StreamTaskLogs", {"parent": "tasks/t1"})

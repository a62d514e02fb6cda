"""Per-method error statuses (``http_response.error_statuses``): read from the descriptors,
applied by the gateway's error path, generated into Envoy's Lua and shown in OpenAPI."""

from __future__ import annotations

import json

import grpc
import pytest

from gateway import envoy
from gateway.errors import error_payload, make_status
from gateway.openapi import build_openapi
from gateway.routes import RouteTable


def _route(table: RouteTable, method: str):  # type: ignore[no-untyped-def]
    return next(r for r in table.routes if r.method == method)


def test_error_statuses_come_from_the_method_option(table: RouteTable) -> None:
    route = _route(table, "ValidateItem")
    assert route.error_statuses == ((3, 422), (5, 410))
    assert route.error_status(3, 400) == 422 and route.error_status(9, 400) == 400
    assert _route(table, "CreateItem").error_statuses == ()


@pytest.mark.parametrize(
    ("code", "http"),
    [(grpc.StatusCode.INVALID_ARGUMENT, 422), (grpc.StatusCode.NOT_FOUND, 410),
     (grpc.StatusCode.FAILED_PRECONDITION, 400), (grpc.StatusCode.ALREADY_EXISTS, 409)],
)  # fmt: skip
def test_error_payload_applies_the_overrides_and_keeps_the_body(table: RouteTable, code: grpc.StatusCode, http: int) -> None:
    status, body = error_payload(make_status(code, "bad"), _route(table, "ValidateItem").error_statuses)
    assert status == http
    assert json.loads(body) == {"code": code.value[0], "message": "bad", "details": []}


def test_envoy_lua_restatuses_only_the_mapped_codes(table: RouteTable) -> None:
    replies = envoy._replies(table.routes)
    reply = replies[_route(table, "ValidateItem").grpc_path]
    source = envoy._lua_source(reply)
    assert "[3] = \"422\"" in source and "[5] = \"410\"" in source
    # the defaults of INVALID_ARGUMENT and NOT_FOUND are the statuses it looks at; a success is left alone
    assert '["400"] = true' in source and '["404"] = true' in source
    assert 'replace(":status", "200")' not in source
    # ... and returns first: the error rewrites' tables and body reads are never reached on a 200
    assert source.index('if handle:headers():get(":status") == "200" then\n    return\n  end\n') < source.index("local mapped")
    # a method with both a success code and error statuses gets one script doing both
    both = envoy._lua_source(envoy._Reply(201, ((3, 422),)))
    assert 'replace(":status", "201")' in both and "[3] = \"422\"" in both


def test_openapi_lists_the_error_statuses(table: RouteTable) -> None:
    spec = build_openapi(table, title="t")
    op = spec["paths"]["/v1/validate"]["post"]
    assert {"200", "422", "410", "default"} <= set(op["responses"])

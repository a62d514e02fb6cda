"""gateway.openapi: OpenAPI 3 from the route table, checked with openapi-spec-validator."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from openapi_spec_validator import validate

from gateway.openapi import build_openapi
from gateway.routes import RouteTable

ERROR_REF = "#/components/schemas/aifarm.gateway.ErrorBody"


@pytest.fixture(scope="module")
def spec(table: RouteTable) -> dict[str, Any]:
    return build_openapi(table, title="gwtest", version="v9")


@pytest.fixture(scope="module")
def core_spec(core_table: RouteTable) -> dict[str, Any]:
    return build_openapi(core_table)


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref":
                yield value
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


def _params(op: dict[str, Any], where: str) -> dict[str, dict[str, Any]]:
    return {p["name"]: p for p in op["parameters"] if p["in"] == where}


def _schema(op: dict[str, Any], code: str, media: str = "application/json") -> dict[str, Any]:
    return op["responses"][code]["content"][media]["schema"]


@pytest.mark.parametrize("which", ["spec", "core_spec"])
def test_spec_validates(which: str, request: pytest.FixtureRequest) -> None:
    document = request.getfixturevalue(which)
    validate(document)
    assert document["openapi"].startswith("3.")


@pytest.mark.parametrize("which", ["spec", "core_spec"])
def test_every_ref_resolves(which: str, request: pytest.FixtureRequest) -> None:
    document = request.getfixturevalue(which)
    schemas = document["components"]["schemas"]
    refs = set(_refs(document))
    assert refs
    for ref in refs:
        assert ref.startswith("#/components/schemas/")
        assert ref.removeprefix("#/components/schemas/") in schemas, ref


@pytest.mark.parametrize("which", ["spec", "core_spec"])
def test_operation_ids_unique_and_errors_documented(which: str, request: pytest.FixtureRequest) -> None:
    document = request.getfixturevalue(which)
    ops = [op for item in document["paths"].values() for op in item.values()]
    ids = [op["operationId"] for op in ops]
    assert len(ids) == len(set(ids))
    for op in ops:
        assert op["responses"]["default"]["content"]["application/json"]["schema"] == {"$ref": ERROR_REF}
    error = document["components"]["schemas"]["aifarm.gateway.ErrorBody"]
    # One schema per declared shape (aifarm.options.v1.error_body), google.rpc.Status first.
    shapes = {one["title"]: set(one["properties"]) for one in error["oneOf"]}
    assert shapes == {"GOOGLE_RPC_STATUS": {"code", "message", "details"}, "DETAIL": {"detail"},
                      "ERROR_OBJECT": {"error"}, "SUCCESS_ENVELOPE": {"success", "data", "error", "detail"}}  # fmt: skip


def test_info(spec: dict[str, Any]) -> None:
    assert spec["info"] == {"title": "gwtest", "version": "v9"}


def test_paths(spec: dict[str, Any]) -> None:
    paths = spec["paths"]
    assert set(paths["/v1/items/{id}"]) == {"get", "patch", "delete", "head"}
    assert "post" in paths["/v1/echo"]  # an additional binding
    assert "post" in paths["/v1/items/{item}:cancel"]  # {name=items/*} becomes items/{item}
    assert "post" in paths["/v1/items:clear"]
    assert "get" in paths["/v1/shelves/{shelve}/books/{book}"]
    assert "get" in paths["/v1/files/{name}:meta"]
    assert "patch" in paths["/v1/nested/{inner.id}/{inner.leaf.name}"]
    assert "get" in paths["/v1/prio/special"]
    # custom kind "*" has no OpenAPI method: served, not documented.
    assert "/v1/any/{id}" not in paths


def test_path_parameters(spec: dict[str, Any]) -> None:
    get = spec["paths"]["/v1/items/{id}"]["get"]
    assert _params(get, "path")["id"]["required"] is True
    cancel = spec["paths"]["/v1/items/{item}:cancel"]["post"]
    assert set(_params(cancel, "path")) == {"item"}
    assert "items/*" in _params(cancel, "path")["item"]["description"]
    files = spec["paths"]["/v1/files/{name}"]["get"]
    assert "several segments" in _params(files, "path")["name"]["description"]
    nested = spec["paths"]["/v1/nested/{inner.id}/{inner.leaf.name}"]["patch"]
    assert set(_params(nested, "path")) == {"inner.id", "inner.leaf.name"}


def test_query_parameters(spec: dict[str, Any]) -> None:
    get = spec["paths"]["/v1/items/{id}"]["get"]
    query = _params(get, "query")
    assert "id" not in query  # bound by the path
    assert query["i32"]["schema"] == {"type": "integer", "format": "int32"}
    assert query["i64"]["schema"] == {"type": "string", "format": "int64"}
    assert query["flag"]["schema"] == {"type": "boolean"}
    assert query["color"]["schema"]["enum"] == ["COLOR_UNSPECIFIED", "COLOR_RED", "COLOR_BLUE"]
    assert query["tags"]["schema"] == {"type": "array", "items": {"type": "string"}}
    assert query["inner.leaf.name"]["schema"] == {"type": "string"}  # dotted nested fields
    assert query["limit"]["schema"] == {"type": "integer", "format": "int32"}  # wrapper
    assert query["created"]["schema"]["format"] == "date-time"
    for absent in ("labels", "extra", "attrs", "values", "inners", "inner", "inner.leaves"):
        assert absent not in query
    assert all(p["required"] is False for p in query.values())


def test_no_query_parameters_with_body_star(spec: dict[str, Any]) -> None:
    assert _params(spec["paths"]["/v1/echo"]["post"], "query") == {}


def test_request_bodies(spec: dict[str, Any]) -> None:
    echo = spec["paths"]["/v1/echo"]["post"]
    assert echo["requestBody"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/gwtest.v1.Item"}
    assert "requestBody" not in spec["paths"]["/v1/items/{id}"]["get"]
    create = spec["paths"]["/v1/shelves/{shelve}/items"]["post"]
    assert create["requestBody"]["required"] is True
    assert create["requestBody"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/gwtest.v1.Item"}
    assert set(_params(create, "query")) == {"item_id"}  # the body field is not in the query
    upload = spec["paths"]["/v1/uploads"]["post"]
    assert upload["requestBody"]["content"] == {"*/*": {"schema": {"type": "string", "format": "binary"}}}
    named = spec["paths"]["/v1/uploads/{upload}"]["put"]
    assert named["requestBody"]["content"] == {"*/*": {"schema": {"type": "string", "format": "binary"}}}
    assert set(_params(named, "query")) == {"etag"}


def test_success_codes(spec: dict[str, Any]) -> None:
    create = spec["paths"]["/v1/shelves/{shelve}/items"]["post"]
    assert set(create["responses"]) == {"201", "default"}
    assert _schema(create, "201") == {"$ref": "#/components/schemas/gwtest.v1.Item"}
    delete = spec["paths"]["/v1/items/{id}"]["delete"]
    assert set(delete["responses"]) == {"204", "default"}
    assert "content" not in delete["responses"]["204"]
    upload = spec["paths"]["/v1/uploads"]["post"]
    assert "201" in upload["responses"]
    assert "200" in spec["paths"]["/v1/items/{id}"]["get"]["responses"]


def test_response_schemas(spec: dict[str, Any]) -> None:
    paths = spec["paths"]
    assert _schema(paths["/v1/items/{id}"]["get"], "200") == {"$ref": "#/components/schemas/gwtest.v1.Item"}
    assert _schema(paths["/v1/items/{id}"]["patch"], "200") == {"$ref": "#/components/schemas/gwtest.v1.Inner"}
    assert _schema(paths["/v1/items/{id}/tags"]["get"], "200") == {"type": "array", "items": {"type": "string"}}
    assert _schema(paths["/v1/value"]["get"], "200") == {"$ref": "#/components/schemas/google.protobuf.Value"}
    download = paths["/v1/uploads/{upload}:download"]["get"]["responses"]["200"]["content"]
    assert download == {"*/*": {"schema": {"type": "string", "format": "binary"}}}
    raw = paths["/v1/uploads/{upload}/raw"]["get"]["responses"]["200"]["content"]
    assert raw == {"*/*": {"schema": {"type": "string", "format": "binary"}}}
    watch = paths["/v1/items/{id}:watch"]["get"]["responses"]["200"]["content"]
    assert set(watch) == {"application/x-ndjson", "text/event-stream"}


def test_component_schemas(spec: dict[str, Any]) -> None:
    schemas = spec["components"]["schemas"]
    item = schemas["gwtest.v1.Item"]["properties"]
    assert "display_name" in item and "displayName" not in item  # proto field names
    assert item["i64"] == {"type": "string", "format": "int64"}
    assert item["labels"] == {"type": "object", "additionalProperties": {"type": "string"}}
    assert item["inner"] == {"$ref": "#/components/schemas/gwtest.v1.Inner"}
    assert item["inners"] == {"type": "array", "items": {"$ref": "#/components/schemas/gwtest.v1.Inner"}}
    assert schemas["google.protobuf.Struct"]["type"] == "object"
    assert schemas["google.protobuf.ListValue"]["type"] == "array"
    assert schemas["google.protobuf.Value"]["nullable"] is True
    assert schemas["google.protobuf.Timestamp"] == {"type": "string", "format": "date-time"}


def test_core_spec(core_spec: dict[str, Any]) -> None:
    paths = core_spec["paths"]
    create = paths["/v1/tasks"]["post"]
    assert "201" in create["responses"]
    assert create["requestBody"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/aifarm.v1.Task"}
    assert _schema(create, "201") == {"$ref": "#/components/schemas/aifarm.v1.Task"}
    assert set(_params(paths["/v1/tasks/{task}"]["get"], "path")) == {"task"}
    assert "post" in paths["/v1/tasks/{task}:cancel"]
    assert "page_size" in _params(paths["/v1/tasks"]["get"], "query")
    delete = paths["/v1/datasets/{dataset}"]["delete"]
    assert set(delete["responses"]) == {"204", "default"}
    upload = paths["/v1/datasets"]["post"]
    assert "201" in upload["responses"]
    assert upload["requestBody"]["content"] == {"*/*": {"schema": {"type": "string", "format": "binary"}}}
    assert "dataset_id" in _params(upload, "query")
    download = paths["/v1/datasets/{dataset}:download"]["get"]["responses"]["200"]["content"]
    assert download == {"*/*": {"schema": {"type": "string", "format": "binary"}}}
    assert "/v1/health" in paths

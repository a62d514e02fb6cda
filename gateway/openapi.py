"""OpenAPI 3 from the same descriptors and HTTP rules the gateway routes with.

Paths come from the rules (a variable such as ``{name=tasks/*}`` is expanded to
``/tasks/{task}``, because an OpenAPI parameter cannot carry a slash), parameters
from path variables and the request fields left for the query string, the
request body from the rule's ``body``, responses from the output message (or
``response_body``), with the success code from ``http_response.success_code``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import grpc
from google.protobuf.descriptor import Descriptor, FieldDescriptor

from gateway.http_rule import SegmentKind
from gateway.routes import HTTP_BODY, Route, RouteTable
from gateway.streaming import NDJSON, SSE

OPENAPI_VERSION = "3.0.3"
# HTTP methods an OpenAPI path item can hold; rules with other custom kinds
# (such as "*", any method) are served but not documented.
_OPENAPI_METHODS = frozenset({"get", "put", "post", "delete", "options", "head", "patch", "trace"})
_MAX_QUERY_DEPTH = 3
_INT32 = {FieldDescriptor.TYPE_INT32, FieldDescriptor.TYPE_SINT32, FieldDescriptor.TYPE_SFIXED32}
_UINT32 = {FieldDescriptor.TYPE_UINT32, FieldDescriptor.TYPE_FIXED32}
_INT64 = {
    FieldDescriptor.TYPE_INT64, FieldDescriptor.TYPE_SINT64, FieldDescriptor.TYPE_SFIXED64,
    FieldDescriptor.TYPE_UINT64, FieldDescriptor.TYPE_FIXED64,
}
_WKT: dict[str, dict[str, Any]] = {
    "google.protobuf.Timestamp": {"type": "string", "format": "date-time"},
    "google.protobuf.Duration": {"type": "string", "example": "1.5s"},
    "google.protobuf.FieldMask": {"type": "string", "example": "a,b.c"},
    "google.protobuf.Struct": {"type": "object", "additionalProperties": True},
    "google.protobuf.Value": {"description": "Any JSON value, null included.", "nullable": True},
    "google.protobuf.ListValue": {"type": "array", "items": {}},
    "google.protobuf.Empty": {"type": "object"},
    "google.protobuf.Any": {"type": "object", "properties": {"@type": {"type": "string"}}, "additionalProperties": True},
    "google.protobuf.DoubleValue": {"type": "number", "nullable": True},
    "google.protobuf.FloatValue": {"type": "number", "nullable": True},
    "google.protobuf.Int64Value": {"type": "string", "format": "int64", "nullable": True},
    "google.protobuf.UInt64Value": {"type": "string", "format": "uint64", "nullable": True},
    "google.protobuf.Int32Value": {"type": "integer", "format": "int32", "nullable": True},
    "google.protobuf.UInt32Value": {"type": "integer", "format": "int64", "nullable": True},
    "google.protobuf.BoolValue": {"type": "boolean", "nullable": True},
    "google.protobuf.StringValue": {"type": "string", "nullable": True},
    "google.protobuf.BytesValue": {"type": "string", "format": "byte", "nullable": True},
}
_DOCUMENT_ERROR: dict[str, Any] = {
    "type": "object",
    "properties": {"code": {"type": "string", "description": "the document's code, e.g. NOT_FOUND"},
                   "message": {"type": "string"}, "details": {"type": "object"}},
}  # fmt: skip
_ERROR_SCHEMA: dict[str, Any] = {
    "description": "In the shape the service's aifarm.options.v1.error_body option declares (gateway.errors):"
                   " google.rpc.Status JSON for the core API.",
    "oneOf": [
        {"type": "object", "title": "GOOGLE_RPC_STATUS", "properties": {
            "code": {"type": "integer", "description": "gRPC status code"},
            "message": {"type": "string"},
            "details": {"type": "array", "items": {"$ref": "#/components/schemas/google.protobuf.Any"}},
        }},
        {"type": "object", "title": "DETAIL", "properties": {"detail": {"type": "string"}}},
        {"type": "object", "title": "ERROR_OBJECT", "properties": {"error": _DOCUMENT_ERROR}},
        {"type": "object", "title": "SUCCESS_ENVELOPE", "properties": {
            "success": {"type": "boolean"}, "data": {"nullable": True}, "error": _DOCUMENT_ERROR,
            "detail": {"type": "string"},
        }},
    ],
}  # fmt: skip


@dataclass
class _Schemas:
    """components.schemas, filled as messages are referenced."""

    schemas: dict[str, dict[str, Any]] = field(default_factory=dict)

    def message(self, desc: Descriptor) -> dict[str, Any]:
        name = desc.full_name
        if name == HTTP_BODY:
            return {"type": "string", "format": "binary"}
        if name not in self.schemas:
            self.schemas[name] = {}  # placeholder first: messages may be recursive
            props = {fd.name: self.field(fd) for fd in desc.fields}
            self.schemas[name] = {"type": "object", "properties": props} if name not in _WKT else dict(_WKT[name])
        return {"$ref": f"#/components/schemas/{name}"}

    def field(self, fd: FieldDescriptor) -> dict[str, Any]:
        mt = fd.message_type
        if mt is not None and mt.GetOptions().map_entry:
            return {"type": "object", "additionalProperties": self.single(mt.fields_by_name["value"])}
        item = self.single(fd)
        return {"type": "array", "items": item} if fd.is_repeated else item

    def single(self, fd: FieldDescriptor) -> dict[str, Any]:
        kind = fd.type
        if fd.message_type is not None:
            return self.message(fd.message_type)
        if fd.enum_type is not None:
            return {"type": "string", "enum": list(fd.enum_type.values_by_name)}
        if kind in _INT32:
            return {"type": "integer", "format": "int32"}
        if kind in _UINT32:
            return {"type": "integer", "format": "int64", "minimum": 0}
        if kind in _INT64:
            return {"type": "string", "format": "int64"}
        if kind == FieldDescriptor.TYPE_DOUBLE:
            return {"type": "number", "format": "double"}
        if kind == FieldDescriptor.TYPE_FLOAT:
            return {"type": "number", "format": "float"}
        if kind == FieldDescriptor.TYPE_BOOL:
            return {"type": "boolean"}
        if kind == FieldDescriptor.TYPE_BYTES:
            return {"type": "string", "format": "byte"}
        return {"type": "string"}


def build_openapi(table: RouteTable, *, title: str = "aifarm", version: str = "v1") -> dict[str, Any]:
    """The OpenAPI 3 document of one listener's routes."""
    schemas = _Schemas()
    schemas.message(_any_descriptor())
    paths: dict[str, dict[str, Any]] = {}
    op_ids: set[str] = set()
    for route in table.routes:
        method = route.http_method.lower()
        if method not in _OPENAPI_METHODS:
            continue
        path, path_params, bound = _openapi_path(route)
        item = paths.setdefault(path, {})
        if method in item:
            continue  # an equivalent binding is already documented
        op_id = f"{route.service.rsplit('.', 1)[-1]}_{route.method}"
        while op_id in op_ids:
            op_id += "_"
        op_ids.add(op_id)
        item[method] = _operation(route, op_id, path_params, bound, schemas)
    return {
        "openapi": OPENAPI_VERSION,
        "info": {"title": title, "version": version},
        "paths": paths,
        "components": {"schemas": {**schemas.schemas, "aifarm.gateway.ErrorBody": _ERROR_SCHEMA}},
    }


def _any_descriptor() -> Descriptor:
    from google.protobuf import any_pb2

    return any_pb2.Any.DESCRIPTOR


def _openapi_path(route: Route) -> tuple[str, list[dict[str, Any]], set[tuple[str, ...]]]:
    """OpenAPI path, its parameters, and the field paths they fill."""
    tpl = route.template
    parts: list[str] = [s.literal if s.kind is SegmentKind.LITERAL else "" for s in tpl.segments]
    params: list[dict[str, Any]] = []
    used: set[str] = set()
    covered: set[int] = set()
    for var in tpl.variables:
        field_name = ".".join(var.field_path)
        simple = var.end - var.start == 1
        for i in range(var.start, var.end):
            seg = tpl.segments[i]
            if seg.kind is SegmentKind.LITERAL:
                continue
            prev = tpl.segments[i - 1].literal if i > var.start and tpl.segments[i - 1].kind is SegmentKind.LITERAL else ""
            name = field_name if simple or not prev else (prev[:-1] if prev.endswith("s") and len(prev) > 1 else prev)
            while name in used:
                name += "_"
            used.add(name)
            covered.add(i)
            parts[i] = "{" + name + "}"
            desc = f"Part of `{field_name}` (`{route.template.source}`)."
            if seg.kind is SegmentKind.MULTI:
                desc += " May span several segments ('/')."
            params.append({"name": name, "in": "path", "required": True, "schema": {"type": "string"}, "description": desc})
    for i, seg in enumerate(tpl.segments):
        if seg.kind is not SegmentKind.LITERAL and i not in covered:
            parts[i] = seg.literal or ("*" if seg.kind is SegmentKind.SINGLE else "**")
    path = "/" + "/".join(parts) + (f":{tpl.verb}" if tpl.verb else "")
    return path, params, {v.field_path for v in tpl.variables}


def _query_params(
    desc: Descriptor, prefix: str, bound: set[tuple[str, ...]], path: tuple[str, ...], schemas: _Schemas, depth: int
) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for fd in desc.fields:
        here = (*path, fd.name)
        if here in bound:
            continue
        mt = fd.message_type
        repeated = fd.is_repeated
        if mt is not None and mt.GetOptions().map_entry:
            continue
        if mt is not None and mt.full_name not in _WKT:
            if not repeated and depth < _MAX_QUERY_DEPTH:
                out += _query_params(mt, f"{prefix}{fd.name}.", bound, here, schemas, depth + 1)
            continue
        if mt is not None and mt.full_name in ("google.protobuf.Struct", "google.protobuf.Value", "google.protobuf.ListValue", "google.protobuf.Any", "google.protobuf.Empty"):
            continue
        schema = dict(_WKT[mt.full_name]) if mt is not None else schemas.single(fd)
        schema.pop("nullable", None)
        if repeated:
            schema = {"type": "array", "items": schema}
        out.append({"name": prefix + fd.name, "in": "query", "required": False, "schema": schema})
    return out


def _operation(
    route: Route, op_id: str, path_params: list[dict[str, Any]], bound: set[tuple[str, ...]], schemas: _Schemas
) -> dict[str, Any]:
    op: dict[str, Any] = {
        "operationId": op_id,
        "summary": route.method,
        "description": f"gRPC `{route.grpc_path}`; HTTP rule `{route.http_method} {route.template.source}`.",
        "tags": [route.service.rsplit(".", 1)[-1]],
        "parameters": list(path_params),
    }
    if route.body != "*":
        skip = {*bound, (route.body,)} if route.body else bound
        op["parameters"] += _query_params(route.input, "", skip, (), schemas, 0)
    if route.body:
        if route.raw_request_body:
            content = {"*/*": {"schema": {"type": "string", "format": "binary"}}}
        else:
            schema = schemas.message(route.input) if route.body == "*" else schemas.field(route.input.fields_by_name[route.body])
            content = {"application/json": {"schema": schema}}
        op["requestBody"] = {"required": route.body != "*", "content": content}
    error_ref = {"application/json": {"schema": {"$ref": "#/components/schemas/aifarm.gateway.ErrorBody"}}}
    op["responses"] = {
        str(route.success_code): _success(route, schemas),
        **{
            str(http): {"description": f"Error with gRPC code {_code_name(code)}.", "content": error_ref}
            for code, http in route.error_statuses
        },
        "default": {
            "description": "Error: HTTP status from the gRPC code (400, 401, 403, 404, 409, 429, 499, 500, 501, 503, 504).",
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/aifarm.gateway.ErrorBody"}}},
        },
    }
    return op


def _success(route: Route, schemas: _Schemas) -> dict[str, Any]:
    if route.success_code == 204:
        return {"description": "Success, no content."}
    if route.raw_response_body:
        return {"description": "The raw bytes, with their content type.", "content": {"*/*": {"schema": {"type": "string", "format": "binary"}}}}
    if route.response_body:
        schema = schemas.field(route.output.fields_by_name[route.response_body])
    else:
        schema = schemas.message(route.output)
    if route.server_streaming:
        return {
            "description": "A stream: one JSON message per line, or Server-Sent Events with Accept: text/event-stream.",
            "content": {NDJSON: {"schema": schema}, SSE: {"schema": {"type": "string"}}},
        }
    return {"description": "Success.", "content": {"application/json": {"schema": schema}}}


def _code_name(number: int) -> str:
    return next((c.name for c in grpc.StatusCode if c.value[0] == number), str(number))

"""JSON/HTTP <-> protobuf mapping for one matched route.

Requests are built from three places, in this order, later ones winning:
the body (per the rule's ``body``), query parameters (fields not bound by the
path or the body), then path variables. Responses print as proto3 JSON with
proto field names and zero values, like Envoy with ``preserve_proto_field_names``
and ``always_print_primitive_fields``.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from google.protobuf import json_format
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message

from gateway.routes import HTTP_BODY, Match, Route
from protojson import json_value

_INT_RANGES = {
    FieldDescriptor.TYPE_INT32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_SINT32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_SFIXED32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_INT64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_SINT64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_SFIXED64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_UINT32: (0, 2**32 - 1),
    FieldDescriptor.TYPE_FIXED32: (0, 2**32 - 1),
    FieldDescriptor.TYPE_UINT64: (0, 2**64 - 1),
    FieldDescriptor.TYPE_FIXED64: (0, 2**64 - 1),
}
_FLOATS = {FieldDescriptor.TYPE_FLOAT, FieldDescriptor.TYPE_DOUBLE}
_WRAPPERS = {
    f"google.protobuf.{n}"
    for n in ("DoubleValue", "FloatValue", "Int64Value", "UInt64Value", "Int32Value", "UInt32Value", "BoolValue", "StringValue", "BytesValue")
}
# Well-known types whose JSON form is a string and so can come from a query parameter.
_STRING_WKT = {"google.protobuf.Timestamp", "google.protobuf.Duration", "google.protobuf.FieldMask"}
# Python's int() and float() also take "1_000" and surrounding spaces; proto3 JSON does not.
_INTEGER = re.compile(r"[+-]?[0-9]+")


class TranscodeError(ValueError):
    """The HTTP request cannot become the gRPC request: answered 400 INVALID_ARGUMENT."""


@dataclass(frozen=True)
class RawResponse:
    """What to send: a body and its content type."""

    body: bytes
    content_type: str


def parse_query(raw_query: str) -> list[tuple[str, str]]:
    """Split a raw query string; '+' stays '+' (Envoy's default, query_param_unescape_plus off).

    Like Envoy, a part without '=' (``?flag``) or without a name (``?=x``) is skipped.
    """
    pairs: list[tuple[str, str]] = []
    for part in raw_query.split("&"):
        key, eq, value = part.partition("=")
        if not eq or not key:
            continue
        pairs.append((unquote(key), unquote(value)))
    return pairs


def build_request(match: Match, query: Iterable[tuple[str, str]], body: bytes, content_type: str) -> Message:
    """The gRPC request for a matched route; raises TranscodeError on bad input."""
    route = match.route
    msg = route.new_request()
    if route.body:
        _apply_body(route, msg, body, content_type)
    bound = set(match.bindings)
    if route.body != "*":
        for key, value in query:
            path = _resolve_query_key(route.input, key.split("."))
            if path is None or path in bound or (route.body and path[0] == route.body):
                continue  # unknown or already bound parameters are ignored, as Envoy and grpc-gateway do
            _set_path(msg, path, value, f"query parameter {key!r}")
    for path, value in match.bindings.items():
        if route.body:
            _refuse_collision(msg, path, value)
        _set_path(msg, path, value, f"path variable {'.'.join(path)!r}", repeated_append=False)
    return msg


def _refuse_collision(msg: Message, path: tuple[str, ...], text: str) -> None:
    """A body that names another resource than the URL is refused, not silently overridden
    (Envoy's reject_binding_body_field_collisions does the same)."""
    for name in path[:-1]:
        if not msg.HasField(name):
            return
        msg = getattr(msg, name)
    fd = msg.DESCRIPTOR.fields_by_name[path[-1]]
    if fd.message_type is not None or _is_repeated(fd):
        return
    current = getattr(msg, fd.name)
    try:
        conflict = current != fd.default_value and current != convert_scalar(fd, text)
    except ValueError:
        return  # the bad path value is reported when it is set
    if conflict:
        field_name = ".".join(path)
        raise TranscodeError(f"field {field_name!r} is {current!r} in the body but {text!r} in the URL path")


def _apply_body(route: Route, msg: Message, body: bytes, content_type: str) -> None:
    if route.raw_request_body:
        target = msg if route.body == "*" else getattr(msg, route.body)
        target.content_type = content_type
        target.data = body
        return
    if not body.strip():
        return  # an empty body is an empty message, as with Envoy
    value = load_json_body(body)
    if route.body == "*":
        _require_object(msg, value)
        value = value or {}
    else:
        value = {route.body: value}
    _require_nested_objects(msg.DESCRIPTOR, value, route.body if route.body != "*" else "")
    try:
        # Unknown fields are ignored, as Envoy's transcoder and grpc-gateway v2 do (a newer client's
        # extra field is no error); wrong types stay a 400.
        json_format.ParseDict(value, msg, ignore_unknown_fields=True, max_recursion_depth=MAX_JSON_DEPTH)
    except OverflowError:  # an integer beyond a double's range, bound for a google.protobuf.Value
        raise TranscodeError("invalid JSON body: a number is too large for its field") from None
    except (json_format.ParseError, ValueError, TypeError) as exc:
        raise TranscodeError(f"invalid JSON body: {exc}") from None
    # A request that parses here but not in the controller (protobuf's decoder stops at 100 nested
    # messages, and a level of a Struct counts three) is refused there: INVALID_ARGUMENT, a 400.


#: The deepest nesting a body may have: protobuf's JSON parser allows 100 (json_format's
#: max_recursion_depth, and Envoy's transcoder), Python's json about 1,000 before RecursionError.
MAX_JSON_DEPTH = 100


def load_json_body(body: bytes) -> Any:
    """A request body as JSON, strictly: UTF-8, no NaN/Infinity literals, finite numbers, no repeated keys.

    Any bad body is a TranscodeError (a 400), never another exception: Python's json raises
    RecursionError, which is no ValueError, on a body nested 100,000 levels deep (200 KB), and
    reads ``1e999`` as infinity and ``NaN`` as a number, which proto3 JSON does not allow unquoted.
    """
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise TranscodeError(f"invalid JSON body: not UTF-8 ({exc.reason} at byte {exc.start})") from None
    try:
        return json.loads(text, parse_float=_finite_float, parse_constant=_no_constant, object_pairs_hook=_unique_keys)
    except RecursionError:
        raise TranscodeError(f"invalid JSON body: nested too deeply (at most {MAX_JSON_DEPTH} levels)") from None
    except ValueError as exc:  # json.JSONDecodeError, and what the hooks below raise
        raise TranscodeError(f"invalid JSON body: {exc}") from None


def _finite_float(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        shown = text if len(text) <= 40 else text[:37] + "..."
        raise ValueError(f"the number {shown} is too large")
    return number


def _no_constant(name: str) -> float:
    raise ValueError(f"{name} is not JSON (proto3 JSON takes it quoted, \"{name}\", in a float field)")


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        repeated = next(key for key, _ in pairs if key in seen or seen.add(key))  # type: ignore[func-returns-value]
        raise ValueError(f"the key {repeated!r} appears twice in one object")
    return obj


def _require_object(msg: Message, value: Any) -> None:
    """A body that is the whole request must be a JSON object (or null), unless the request is a
    well-known type with another JSON form (google.protobuf.Value, ListValue, wrappers)."""
    if value is None or isinstance(value, dict) or msg.DESCRIPTOR.full_name.startswith("google.protobuf."):
        return
    kind = {list: "an array", str: "a string", bool: "a boolean"}.get(type(value), "a number")
    raise TranscodeError(f"invalid JSON body: expected an object ({msg.DESCRIPTOR.full_name}), got {kind}")


def _require_nested_objects(msg: Descriptor, value: Any, where: str) -> None:
    """Every message field's value is an object (or null). json_format, told to ignore unknown
    fields, would take a string there as an object of unknown one-letter fields and say nothing."""
    if not isinstance(value, dict) or msg.full_name.startswith("google.protobuf."):
        return
    for key, item in value.items():
        fd = _field(msg, key)
        mt = fd.message_type if fd is not None else None
        if fd is None or mt is None or mt.full_name.startswith("google.protobuf.") or item is None:
            continue
        name = f"{where}.{key}" if where else key
        if mt.GetOptions().map_entry:
            value_type = mt.fields_by_name["value"].message_type
            items = list(item.values()) if isinstance(item, dict) and value_type is not None else []
            kind = "an object" if isinstance(item, dict) else None
        elif _is_repeated(fd):
            items = item if isinstance(item, list) else []
            kind = "an array" if isinstance(item, list) else None
        else:
            items = [item]
            kind = "an object"
        if kind is None:
            raise TranscodeError(f"invalid JSON body: field {name!r} must be {'an object' if mt.GetOptions().map_entry else 'an array'}")
        target = mt.fields_by_name["value"].message_type if mt.GetOptions().map_entry else mt
        for element in items:
            if element is not None and not isinstance(element, dict) and not target.full_name.startswith("google.protobuf."):
                raise TranscodeError(f"invalid JSON body: field {name!r} takes objects ({target.full_name}), got {element!r:.40}")
            _require_nested_objects(target, element, name)


def _field(msg: Descriptor, name: str) -> FieldDescriptor | None:
    fd = msg.fields_by_name.get(name)
    if fd is None:
        fd = next((f for f in msg.fields if f.json_name == name), None)
    return fd


def _resolve_query_key(msg: Descriptor, parts: list[str]) -> tuple[str, ...] | None:
    """Proto field names for a dotted query key, or None when it names no settable leaf."""
    names: list[str] = []
    for i, part in enumerate(parts):
        fd = _field(msg, part)
        if fd is None:
            return None
        names.append(fd.name)
        last = i == len(parts) - 1
        mt = fd.message_type
        if mt is not None and mt.GetOptions().map_entry:
            return None  # maps cannot come from query parameters
        if last:
            if mt is not None and mt.full_name not in _WRAPPERS | _STRING_WKT:
                return None
            return tuple(names)
        if mt is None or _is_repeated(fd):
            return None
        msg = mt
    return None


def _is_repeated(fd: FieldDescriptor) -> bool:
    return fd.is_repeated


def _set_path(msg: Message, path: tuple[str, ...], text: str, what: str, *, repeated_append: bool = True) -> None:
    for name in path[:-1]:
        msg = getattr(msg, name)
    fd = msg.DESCRIPTOR.fields_by_name[path[-1]]
    mt = fd.message_type
    try:
        if mt is not None and mt.full_name in _STRING_WKT:
            target = getattr(msg, fd.name).add() if _is_repeated(fd) else getattr(msg, fd.name)
            json_format.Parse(json.dumps(text), target)
            return
        if mt is not None:  # a wrapper: google.protobuf.Int32Value and friends
            target = getattr(msg, fd.name).add() if _is_repeated(fd) else getattr(msg, fd.name)
            target.value = convert_scalar(mt.fields_by_name["value"], text)
            return
        value = convert_scalar(fd, text)
    except (ValueError, json_format.ParseError) as exc:
        raise TranscodeError(f"invalid {what}: {exc}") from None
    if _is_repeated(fd):
        container = getattr(msg, fd.name)
        if not repeated_append:
            del container[:]
        container.append(value)
    else:
        setattr(msg, fd.name, value)


def convert_scalar(fd: FieldDescriptor, text: str) -> Any:
    """Parse a path or query string into the Python value of a scalar or enum field."""
    kind = fd.type
    if kind in _INT_RANGES:
        if not _INTEGER.fullmatch(text):
            raise ValueError(f"{text!r} is not an integer ({_type_name(fd)})")
        number = int(text, 10)
        lo, hi = _INT_RANGES[kind]
        if not lo <= number <= hi:
            raise ValueError(f"{text!r} is out of range for {_type_name(fd)}")
        return number
    if kind in _FLOATS:
        try:
            if "_" in text or text != text.strip():
                raise ValueError(text)
            number = float(text)
        except ValueError:
            raise ValueError(f"{text!r} is not a number ({_type_name(fd)})") from None
        if kind == FieldDescriptor.TYPE_FLOAT and math.isfinite(number) and abs(number) > 3.4028234663852886e38:
            raise ValueError(f"{text!r} is out of range for float")
        return number
    if kind == FieldDescriptor.TYPE_BOOL:
        if text in ("true", "false"):
            return text == "true"
        raise ValueError(f"{text!r} is not a bool (use true or false)")
    if kind == FieldDescriptor.TYPE_STRING:
        return text
    if kind == FieldDescriptor.TYPE_BYTES:
        try:
            padded = text + "=" * (-len(text) % 4)
            return base64.b64decode(padded.replace("-", "+").replace("_", "/"), validate=True)
        except (binascii.Error, ValueError):
            raise ValueError(f"{text!r} is not base64") from None
    if kind == FieldDescriptor.TYPE_ENUM:
        enum = fd.enum_type
        if text in enum.values_by_name:
            return enum.values_by_name[text].number
        if not _INTEGER.fullmatch(text):
            names = ", ".join(enum.values_by_name)
            raise ValueError(f"{text!r} is not a value of {enum.full_name} ({names})")
        number = int(text, 10)
        if not -(2**31) <= number < 2**31:
            raise ValueError(f"{text!r} is out of range for {enum.full_name}")
        return number
    raise ValueError(f"fields of type {_type_name(fd)} cannot be set from a string")


def _type_name(fd: FieldDescriptor) -> str:
    names = {v: k[len("TYPE_") :].lower() for k, v in vars(FieldDescriptor).items() if k.startswith("TYPE_")}
    return names.get(fd.type, str(fd.type))


def to_json_value(msg: Message) -> Any:
    """proto3 JSON as Python objects; Value/ListValue/Struct come out as plain JSON.

    Whole floats print without a fraction (``256``, not ``256.0``), as Envoy's
    C++ printer writes them: a count inside a google.protobuf.Value stays an integer.
    protojson prints what json_format does, compiled per message type (json_format's
    per-field checks were most of a list answer's cost).
    """
    return json_value(msg)


def dumps(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


def render_response(route: Route, msg: Message) -> RawResponse:
    """The HTTP body for one response message (whole, or its response_body field)."""
    target: Message = msg
    if route.response_body:
        fd = msg.DESCRIPTOR.fields_by_name[route.response_body]
        if fd.message_type is not None and fd.message_type.full_name == HTTP_BODY:
            target = getattr(msg, route.response_body)
        else:
            printed = to_json_value(msg).get(route.response_body)
            return RawResponse(dumps(printed), "application/json")
    if target.DESCRIPTOR.full_name == HTTP_BODY:
        return RawResponse(bytes(target.data), target.content_type or "application/octet-stream")  # type: ignore[attr-defined]
    return RawResponse(dumps(to_json_value(target)), "application/json")

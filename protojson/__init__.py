"""proto3 JSON as Python objects, compiled once per message type (the doors' printer; the compat
servicers print with it too, to build what both doors print the same way).

What ``json_format.MessageToDict(msg, preserving_proto_field_name=True,
always_print_fields_with_no_presence=True)`` returns, key for key and in the same key order (the
fields that are set by number, then the unset ones without presence by declaration), with whole
floats as ints (``256``, not ``256.0``, as Envoy's C++ printer writes them). json_format walks
each field through a chain of generic checks (wrapper? well-known type? which C++ type?) on every
call, the largest cost of a list answer in both the gateway and the compat servicers; here those
checks run once per message type and a field costs one converter call.

Anything json_format would refuse or print in a way this does not model (Any, extensions, a
NaN in a google.protobuf.Value, an unknown value of a closed enum) falls back to json_format
itself, so its result and its error are json_format's. tests/protojson/test_proto_json.py checks both agree.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Callable
from typing import Any

from google.protobuf import json_format
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.internal import type_checkers
from google.protobuf.message import Message

Converter = Callable[[Any], Any]

_WHOLE_LIMIT = 2**53
_INT64 = {FieldDescriptor.CPPTYPE_INT64, FieldDescriptor.CPPTYPE_UINT64}


class _Unmodelled(Exception):
    """A value this printer leaves to json_format (see the module's docstring)."""


def json_value(msg: Message) -> Any:
    """``msg`` as proto3 JSON objects (dicts, lists, str, int, float, bool, None)."""
    try:
        return _printer(type(msg))(msg)
    except _Unmodelled:
        printed = json_format.MessageToDict(msg, preserving_proto_field_name=True, always_print_fields_with_no_presence=True)
        return whole_floats_as_ints(printed)


def whole_floats_as_ints(value: Any) -> Any:
    if isinstance(value, float):
        return int(value) if value.is_integer() and abs(value) < _WHOLE_LIMIT else value
    if isinstance(value, dict):
        return {k: whole_floats_as_ints(v) for k, v in value.items()}
    if isinstance(value, list):
        return [whole_floats_as_ints(v) for v in value]
    return value


#: Message class -> its printer. Filled as types are first printed; a type's printing never changes.
_PRINTERS: dict[type, Converter] = {}


def _printer(cls: type) -> Converter:
    found = _PRINTERS.get(cls)
    if found is None:
        found = _PRINTERS[cls] = _compile(cls.DESCRIPTOR)  # type: ignore[attr-defined]
    return found


def _message(msg: Message) -> Any:
    found = _PRINTERS.get(type(msg))
    return found(msg) if found is not None else _printer(type(msg))(msg)


def _double(v: float) -> Any:
    if v.is_integer():
        return int(v) if abs(v) < _WHOLE_LIMIT else v
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "Infinity" if v > 0 else "-Infinity"
    return v


def _float(v: float) -> Any:
    return _double(type_checkers.ToShortestFloat(v)) if math.isfinite(v) else _double(v)


def _bytes(v: bytes) -> str:
    return base64.b64encode(v).decode("utf-8")


def _same(v: Any) -> Any:
    return v


def _enum(fd: FieldDescriptor) -> Converter:
    enum = fd.enum_type
    if enum.full_name == "google.protobuf.NullValue":
        return lambda v: None
    names = {number: value.name for number, value in enum.values_by_number.items()}
    closed = enum.is_closed

    def convert(v: int) -> Any:
        name = names.get(v)
        if name is not None:
            return name
        if closed:
            raise _Unmodelled
        return v

    return convert


def _scalar(fd: FieldDescriptor) -> Converter:
    cpp = fd.cpp_type
    if cpp == FieldDescriptor.CPPTYPE_MESSAGE:
        return _message
    if cpp == FieldDescriptor.CPPTYPE_ENUM:
        return _enum(fd)
    if fd.type == FieldDescriptor.TYPE_BYTES:
        return _bytes
    if cpp in _INT64:
        return str
    if cpp == FieldDescriptor.CPPTYPE_DOUBLE:
        return _double
    if cpp == FieldDescriptor.CPPTYPE_FLOAT:
        return _float
    return _same  # str, bool, 32-bit integers


def _field(fd: FieldDescriptor) -> Converter:
    mt = fd.message_type
    if mt is not None and mt.GetOptions().map_entry:
        key_fd, value_fd = mt.fields_by_name["key"], mt.fields_by_name["value"]
        bool_keys = key_fd.cpp_type == FieldDescriptor.CPPTYPE_BOOL
        convert_value = _scalar(value_fd)

        def convert_map(m: Any) -> dict[str, Any]:
            if bool_keys:
                return {("true" if k else "false"): convert_value(m[k]) for k in m}
            return {str(k): convert_value(m[k]) for k in m}

        return convert_map
    convert = _scalar(fd)
    if fd.is_repeated:
        return lambda seq: [convert(x) for x in seq]
    return convert


def _value(msg: Message) -> Any:
    which = msg.WhichOneof("kind")
    if which == "string_value":
        return msg.string_value  # type: ignore[attr-defined]
    if which == "number_value":
        v = msg.number_value  # type: ignore[attr-defined]
        if not math.isfinite(v):
            raise _Unmodelled  # json_format refuses it, in its words
        return int(v) if v.is_integer() and abs(v) < _WHOLE_LIMIT else v
    if which == "struct_value":
        return _struct(msg.struct_value)  # type: ignore[attr-defined]
    if which == "bool_value":
        return msg.bool_value  # type: ignore[attr-defined]
    if which == "list_value":
        return [_value(v) for v in msg.list_value.values]  # type: ignore[attr-defined]
    return None  # null_value, or unset


def _struct(msg: Message) -> dict[str, Any]:
    fields = msg.fields  # type: ignore[attr-defined]
    return {key: _value(fields[key]) for key in fields}


def _list_value(msg: Message) -> list[Any]:
    return [_value(v) for v in msg.values]  # type: ignore[attr-defined]


def _json_string(msg: Message) -> str:
    return msg.ToJsonString()  # type: ignore[attr-defined]


def _unmodelled(msg: Message) -> Any:
    raise _Unmodelled


_WELL_KNOWN: dict[str, Converter] = {
    "google.protobuf.Value": _value,
    "google.protobuf.Struct": _struct,
    "google.protobuf.ListValue": _list_value,
    "google.protobuf.Timestamp": _json_string,
    "google.protobuf.Duration": _json_string,
    "google.protobuf.FieldMask": _json_string,
    "google.protobuf.Any": _unmodelled,
}


def _compile(desc: Descriptor) -> Converter:
    known = _WELL_KNOWN.get(desc.full_name)
    if known is not None:
        return known
    if desc.file.name == "google/protobuf/wrappers.proto":
        convert_wrapped = _scalar(desc.fields_by_name["value"])
        return lambda msg: convert_wrapped(msg.value)
    converters = {fd: (fd.name, _field(fd)) for fd in desc.fields}
    # Zero values of the fields without presence, printed when unset; containers are made anew.
    zeros: list[tuple[str, Any, type | None]] = []
    for fd in desc.fields:
        if fd.has_presence:
            continue
        if fd.message_type is not None and fd.message_type.GetOptions().map_entry:
            zeros.append((fd.name, None, dict))
        elif fd.is_repeated:
            zeros.append((fd.name, None, list))
        else:
            zeros.append((fd.name, _scalar(fd)(fd.default_value), None))

    def print_message(msg: Message) -> dict[str, Any]:
        js: dict[str, Any] = {}
        for fd, v in msg.ListFields():
            entry = converters.get(fd)
            if entry is None:
                raise _Unmodelled  # an extension
            js[entry[0]] = entry[1](v)
        for name, zero, container in zeros:
            if name not in js:
                js[name] = container() if container is not None else zero
        return js

    return print_message

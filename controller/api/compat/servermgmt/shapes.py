"""Small conversions the Server Management shapes share: ISO times, nulls, JSON arrays and nulls, sizes in MB."""

from __future__ import annotations

import datetime
from collections.abc import Iterable

from google.protobuf import struct_pb2
from google.protobuf.message import Message

from controller.api.compat.json_values import fill_struct
import protojson

MB = 1 << 20


def iso(seconds: float) -> str:
    """``2024-01-15T10:30:00Z`` (with microseconds when there are any)."""
    moment = datetime.datetime.fromtimestamp(seconds, datetime.timezone.utc)
    return moment.isoformat().replace("+00:00", "Z")


def json_array(messages: Iterable[Message]) -> struct_pb2.ListValue:
    """A bare JSON array of messages, printed as both doors print messages (proto names, zero values)."""
    out = struct_pb2.ListValue()
    for msg in messages:
        fill_struct(out.values.add().struct_value, _as_dict(msg))
    return out


def _as_dict(msg: Message) -> dict:
    # json_format's output (proto names, zero values) from a printer compiled per message type.
    return protojson.json_value(msg)


def json_value(msg: Message | None) -> struct_pb2.Value:
    """One message as a JSON object (printed as `json_array` prints its items), or JSON null for None."""
    out = struct_pb2.Value()
    if msg is None:
        out.null_value = struct_pb2.NULL_VALUE
    else:
        fill_struct(out.struct_value, _as_dict(msg))
    return out


def size_mb(size_bytes: int) -> float:
    return round(size_bytes / MB, 3)

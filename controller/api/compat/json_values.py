"""JSON shapes the documents use that proto3 messages cannot print by themselves."""

from __future__ import annotations

from google.protobuf import struct_pb2


def value(item: str | float | None) -> struct_pb2.Value:
    """A google.protobuf.Value: the item, or JSON null for None."""
    out = struct_pb2.Value()
    if item is None:
        out.null_value = struct_pb2.NULL_VALUE
    elif isinstance(item, str):
        out.string_value = item
    else:
        out.number_value = float(item)
    return out

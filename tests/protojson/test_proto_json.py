"""protojson prints every message of the protos exactly as json_format does (plus whole floats as ints).

Every message type of aifarm's generated packages, filled at random (fixed seeds) with every kind
of field, is printed by both and compared as JSON text, so key order counts too.
"""

from __future__ import annotations

import json
import math
import random
import sys
from typing import Any

import pytest
from google.protobuf import any_pb2, descriptor_pool, duration_pb2, json_format, struct_pb2, timestamp_pb2, wrappers_pb2
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message
from google.protobuf.message_factory import GetMessageClass

from gateway.descriptors import import_generated
from protojson import json_value, whole_floats_as_ints


def reference(msg: Message) -> Any:
    printed = json_format.MessageToDict(msg, preserving_proto_field_name=True, always_print_fields_with_no_presence=True)
    return whole_floats_as_ints(printed)


def same(msg: Message) -> None:
    assert json.dumps(json_value(msg)) == json.dumps(reference(msg))


def all_messages() -> list[Descriptor]:
    modules = import_generated("aifarm")
    pool = descriptor_pool.Default()
    out: dict[str, Descriptor] = {}

    def walk(desc: Descriptor) -> None:
        if desc.full_name in out or desc.GetOptions().map_entry:
            return
        out[desc.full_name] = desc
        for nested in desc.nested_types:
            walk(nested)
        for fd in desc.fields:
            if fd.message_type is not None:
                walk(fd.message_type)

    # Only our generated modules: walking sys.modules would ask other packages' DESCRIPTOR
    # attributes (torch's raise on any unknown attribute).
    for name in modules:
        file = sys.modules[name].DESCRIPTOR
        for desc in pool.FindFileByName(file.name).message_types_by_name.values():
            walk(desc)
    return [out[k] for k in sorted(out)]


def random_json(rng: random.Random, depth: int = 0) -> Any:
    kinds = ["null", "number", "whole", "string", "bool"] + (["object", "list"] if depth < 3 else [])
    kind = rng.choice(kinds)
    if kind == "null":
        return None
    if kind == "number":
        return rng.uniform(-1e6, 1e6)
    if kind == "whole":
        return float(rng.choice([0, 1, -3, 256, 2**53, 2**60]))
    if kind == "string":
        return rng.choice(["", "x", "ünï", "a\"b\\c\n", "1"])
    if kind == "bool":
        return rng.random() < 0.5
    if kind == "object":
        return {f"k{i}": random_json(rng, depth + 1) for i in range(rng.randint(0, 3))}
    return [random_json(rng, depth + 1) for _ in range(rng.randint(0, 3))]


def scalar(rng: random.Random, fd: FieldDescriptor) -> Any:
    t = fd.type
    if t == FieldDescriptor.TYPE_ENUM:
        return rng.choice([v.number for v in fd.enum_type.values])
    if t == FieldDescriptor.TYPE_BOOL:
        return rng.random() < 0.5
    if t == FieldDescriptor.TYPE_STRING:
        return rng.choice(["", "a", "héllo", "x" * 20])
    if t == FieldDescriptor.TYPE_BYTES:
        return rng.choice([b"", b"\x00\xff", b"abc"])
    if t in (FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT):
        return rng.choice([0.0, 1.0, -2.5, 0.1, 1e20, 3.0e38 if t == FieldDescriptor.TYPE_FLOAT else 1e300,
                           math.inf, -math.inf, math.nan, 2.0**53])  # fmt: skip
    if t in (FieldDescriptor.TYPE_UINT32, FieldDescriptor.TYPE_FIXED32):
        return rng.choice([0, 1, 2**32 - 1])
    if t in (FieldDescriptor.TYPE_UINT64, FieldDescriptor.TYPE_FIXED64):
        return rng.choice([0, 1, 2**64 - 1])
    if t in (FieldDescriptor.TYPE_INT64, FieldDescriptor.TYPE_SINT64, FieldDescriptor.TYPE_SFIXED64):
        return rng.choice([0, -1, 2**63 - 1, 2**53 + 1])
    return rng.choice([0, -1, 7, 2**31 - 1])


def fill(rng: random.Random, msg: Message, depth: int = 0) -> None:
    name = msg.DESCRIPTOR.full_name
    if name == "google.protobuf.Struct":
        msg.update({f"f{i}": random_json(rng) for i in range(rng.randint(0, 3))})  # type: ignore[attr-defined]
        return
    if name == "google.protobuf.Value":
        value = random_json(rng)
        if value is None:
            if rng.random() < 0.5:
                msg.null_value = struct_pb2.NULL_VALUE  # type: ignore[attr-defined]
            return
        json_format.ParseDict(value, msg)
        return
    if name == "google.protobuf.ListValue":
        msg.extend([random_json(rng) for _ in range(rng.randint(0, 3))])  # type: ignore[attr-defined]
        return
    if name == "google.protobuf.Timestamp":
        msg.FromSeconds(rng.choice([0, 1700000000]))  # type: ignore[attr-defined]
        msg.nanos = rng.choice([0, 5000, 123456789])  # type: ignore[attr-defined]
        return
    if name == "google.protobuf.Duration":
        msg.FromNanoseconds(rng.choice([0, 1, 1500000000, -3]))  # type: ignore[attr-defined]
        return
    if name == "google.protobuf.FieldMask":
        msg.paths.extend(rng.choice([[], ["a.b_c", "d"]]))  # type: ignore[attr-defined]
        return
    if name == "google.protobuf.Any":
        if rng.random() < 0.5:
            msg.Pack(wrappers_pb2.StringValue(value="x"))  # type: ignore[attr-defined]
        return
    for fd in msg.DESCRIPTOR.fields:
        if rng.random() < 0.35:
            continue
        mt = fd.message_type
        if mt is not None and mt.GetOptions().map_entry:
            key_fd, value_fd = mt.fields_by_name["key"], mt.fields_by_name["value"]
            target = getattr(msg, fd.name)
            for _ in range(rng.randint(0, 3)):
                key = scalar(rng, key_fd)
                if value_fd.message_type is not None:
                    if depth < 3:
                        fill(rng, target[key], depth + 1)
                else:
                    target[key] = scalar(rng, value_fd)
        elif fd.is_repeated:
            target = getattr(msg, fd.name)
            for _ in range(rng.randint(0, 3)):
                if mt is not None:
                    if depth < 3:
                        fill(rng, target.add(), depth + 1)
                else:
                    target.append(scalar(rng, fd))
        elif mt is not None:
            if depth < 3:
                fill(rng, getattr(msg, fd.name), depth + 1)
                getattr(msg, fd.name).SetInParent()
        else:
            setattr(msg, fd.name, scalar(rng, fd))


@pytest.mark.parametrize("desc", all_messages(), ids=lambda d: d.full_name)
def test_every_message_prints_as_json_format_does(desc: Descriptor) -> None:
    cls = GetMessageClass(desc)
    same(cls())  # every zero value
    for seed in range(40):
        msg = cls()
        fill(random.Random(f"{desc.full_name}/{seed}"), msg)
        try:
            expected = json.dumps(reference(msg))
        except json_format.SerializeToJsonError as exc:
            with pytest.raises(json_format.SerializeToJsonError, match=str(exc)[:30]):
                json_value(msg)
            continue
        assert json.dumps(json_value(msg)) == expected


def test_well_known_types_at_the_top() -> None:
    value = struct_pb2.Value()
    json_format.ParseDict({"a": [1.0, 2.5, None, {"b": "c"}], "n": 3.0}, value)
    assert json_value(value) == {"a": [1, 2.5, None, {"b": "c"}], "n": 3}
    same(value)
    same(struct_pb2.Value())
    same(struct_pb2.ListValue())
    same(timestamp_pb2.Timestamp(seconds=1, nanos=10))
    same(duration_pb2.Duration(seconds=-1))
    same(wrappers_pb2.Int64Value(value=2**62))
    same(wrappers_pb2.DoubleValue(value=4.0))
    same(wrappers_pb2.FloatValue(value=0.1))
    packed = any_pb2.Any()
    packed.Pack(wrappers_pb2.Int32Value(value=3))
    same(packed)


def test_a_non_finite_number_in_a_value_is_refused_as_json_format_refuses_it() -> None:
    value = struct_pb2.Value(number_value=math.nan)
    with pytest.raises(ValueError, match="NaN"):
        json_format.MessageToDict(value)
    with pytest.raises(ValueError, match="NaN"):
        json_value(value)

"""fill_struct builds the very Struct that protobuf's Struct.update builds, for every kind of JSON value."""

from __future__ import annotations

import random
from typing import Any

import pytest
from google.protobuf import struct_pb2

from controller.api.compat.json_values import fill_struct


def random_json(rng: random.Random, depth: int = 0) -> Any:
    kinds = ["null", "float", "int", "string", "bool"] + (["object", "list", "empty"] if depth < 4 else [])
    kind = rng.choice(kinds)
    if kind == "null":
        return None
    if kind == "float":
        return rng.uniform(-1e9, 1e9)
    if kind == "int":
        return rng.choice([0, 1, -7, 2**40, 2**63])
    if kind == "string":
        return rng.choice(["", "x", "ünï", "a\"b"])
    if kind == "bool":
        return rng.random() < 0.5
    if kind == "empty":
        return rng.choice([{}, [], ()])
    if kind == "object":
        return {f"k{i}": random_json(rng, depth + 1) for i in range(rng.randint(0, 4))}
    return [random_json(rng, depth + 1) for _ in range(rng.randint(0, 4))]


@pytest.mark.parametrize("seed", range(300))
def test_fill_struct_builds_what_update_builds(seed: int) -> None:
    rng = random.Random(seed)
    items = {f"f{i}": random_json(rng) for i in range(rng.randint(0, 6))}
    expected = struct_pb2.Struct()
    expected.update(items)
    assert fill_struct(struct_pb2.Struct(), items) == expected
    # Into a Struct that already holds other values, as update() merges.
    base = {"f0": {"old": 1}, "keep": "x"}
    into, reference = struct_pb2.Struct(), struct_pb2.Struct()
    into.update(base)
    reference.update(base)
    reference.update(items)
    assert fill_struct(into, items) == reference


def test_what_update_refuses_fill_struct_refuses() -> None:
    with pytest.raises(ValueError):
        struct_pb2.Struct().update({"a": object()})
    with pytest.raises(ValueError):
        fill_struct(struct_pb2.Struct(), {"a": object()})

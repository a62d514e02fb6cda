"""Numbers print as Envoy prints them: a whole double has no fraction, inside Value/ListValue too."""

from __future__ import annotations

import json

from google.protobuf import struct_pb2, wrappers_pb2

from gateway.transcode import dumps, to_json_value


def test_whole_floats_print_as_integers_in_lists_and_structs() -> None:
    items = struct_pb2.ListValue()
    items.values.add().struct_value.update({"sample_count": 256, "size_mb": 0.752, "nested": {"n": 3.0}})
    items.values.add().number_value = -4.0
    text = dumps(to_json_value(items))
    assert b'"sample_count":256,' in text or b'"sample_count":256}' in text
    assert b'"n":3}' in text and text.endswith(b",-4]")
    assert json.loads(text) == [{"sample_count": 256, "size_mb": 0.752, "nested": {"n": 3}}, -4]


def test_fractions_and_huge_values_are_kept() -> None:
    assert json.loads(dumps(to_json_value(wrappers_pb2.DoubleValue(value=2.5)))) == 2.5
    assert to_json_value(wrappers_pb2.DoubleValue(value=1e300)) == 1e300

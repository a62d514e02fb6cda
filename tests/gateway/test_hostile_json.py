"""Hostile JSON bodies are refused at the door: a TranscodeError (a 400), never another exception.

Each case once with the body as the whole request (``body: "*"``, POST /v1/echo) and once as
one field of it (``body: "item"``, POST /v1/shelves/s/items). Before the fix, a body nested
100,000 levels deep raised RecursionError on a body field (a 500), an integer too large for a
double raised OverflowError. (A google.protobuf.Struct 40 levels deep parses here but not in the
controller's wire decoder: the controller answers it INVALID_ARGUMENT, tests/doors/test_hostile_bodies.py.)
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from gateway.routes import RouteTable
from gateway.transcode import TranscodeError, build_request, parse_query

DEEP = 100_000


def _objects(depth: int, leaf: bytes = b"1") -> bytes:
    return b'{"a":' * depth + leaf + b"}" * depth


def _arrays(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


#: name -> (fields of an Item as raw JSON, what the error says)
HOSTILE: dict[str, tuple[bytes, str]] = {
    "object nested 100,000 deep": (b'{"attrs":' + _objects(DEEP) + b"}", "too deep"),
    "array nested 100,000 deep": (b'{"values":' + _arrays(DEEP) + b"}", "too deep"),
    "deep array in an unknown field": (b'{"zzz":' + _arrays(DEEP) + b"}", "too deep"),
    "the whole body nested 100,000 deep": (_arrays(DEEP), "too deep"),
    "Value 60 arrays deep": (b'{"extra":' + _arrays(60) + b"}", "too deep"),
    "integer of 100,000 digits": (b'{"i64":' + b"9" * DEEP + b"}", "digits"),
    "integer past a double, into a Value": (b'{"extra":' + b"9" * 400 + b"}", "too large"),
    "1e999999 into a double": (b'{"ratio":1e999999}', "too large"),
    "-1e999 into a Value": (b'{"extra":-1e999}', "too large"),
    "a float of 400 digits": (b'{"ratio":1' + b"0" * 400 + b".5}", "too large"),
    "NaN unquoted": (b'{"ratio":NaN}', "NaN is not JSON"),
    "Infinity unquoted into a Value": (b'{"extra":Infinity}', "Infinity is not JSON"),
    "not UTF-8": (b'{"name":"\xff\xfe"}', "not UTF-8"),
    "UTF-16": ('{"name":"a"}'.encode("utf-16"), "not UTF-8"),
    "a key twice": (b'{"name":"a","name":"b"}', "appears twice"),
    "a lone surrogate": (b'{"name":"\\ud800"}', "surrogate"),
}


def _build(table: RouteTable, url: str, body: bytes) -> Any:
    match = table.match("POST", url)
    assert match is not None
    return build_request(match, parse_query(""), body, "application/json")


@pytest.mark.parametrize("case", list(HOSTILE))
@pytest.mark.parametrize("url", ["/v1/echo", "/v1/shelves/s/items"], ids=["body=*", "body=item"])
def test_hostile_bodies_are_a_transcode_error(table: RouteTable, case: str, url: str) -> None:
    body, says = HOSTILE[case]
    started = time.monotonic()
    with pytest.raises(TranscodeError, match="invalid JSON body") as refused:
        _build(table, url, body)
    assert says in str(refused.value)
    assert time.monotonic() - started < 2, "refusing it should be quick"


@pytest.mark.parametrize("body", [b"[1, 2]", b'"a string"', b"3", b"true"])
def test_a_whole_body_that_is_not_an_object_is_refused_by_its_kind(table: RouteTable, body: bytes) -> None:
    with pytest.raises(TranscodeError, match=r"expected an object \(gwtest.v1.Item\), got "):
        _build(table, "/v1/echo", body)


def test_nesting_within_the_limits_still_parses(table: RouteTable) -> None:
    """No false refusals: what the controller can decode goes through."""
    item = _build(table, "/v1/echo", b'{"attrs":' + _objects(30, b'"leaf"') + b',"values":' + _arrays(40) + b"}")
    level = item.attrs
    for _ in range(29):
        level = level.fields["a"].struct_value
    assert level.fields["a"].string_value == "leaf"
    assert len(item.values.values) == 1


def test_quoted_special_floats_and_large_finite_numbers_are_fine(table: RouteTable) -> None:
    item = _build(table, "/v1/echo", b'{"ratio":"NaN","extra":1.5e308,"i64":"9223372036854775807"}')
    assert item.ratio != item.ratio and item.extra.number_value == 1.5e308 and item.i64 == 2**63 - 1
    assert _build(table, "/v1/echo", b'{"ratio":"-Infinity"}').ratio == float("-inf")


def test_a_null_whole_body_is_an_empty_message(table: RouteTable) -> None:
    assert _build(table, "/v1/echo", b"null") == type(_build(table, "/v1/echo", b"{}"))()


def test_load_json_body_refuses_only_with_transcode_errors() -> None:
    from gateway.transcode import load_json_body

    assert load_json_body(b'{"a": [1, 2.5, "x", null, true]}') == {"a": [1, 2.5, "x", None, True]}
    for body in (_objects(DEEP), b"1e400", b"-Infinity", b"\xc3\x28", b'{"a":1,"a":2}', b"{"):
        with pytest.raises(TranscodeError):
            load_json_body(body)


def test_the_core_create_task_route_refuses_a_deep_body(core_table: RouteTable) -> None:
    """POST /v1/tasks (body: "task"), where the RecursionError first showed."""
    with pytest.raises(TranscodeError, match="nested too deeply"):
        _build(core_table, "/v1/tasks", b'{"display_name":' + _arrays(DEEP) + b"}")

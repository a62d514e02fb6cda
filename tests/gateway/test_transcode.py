"""gateway.transcode: HTTP request -> gRPC request, gRPC response -> HTTP body."""

from __future__ import annotations

import json
from types import ModuleType
from typing import Any

import pytest
from google.api import httpbody_pb2
from google.protobuf import empty_pb2, struct_pb2
from google.protobuf.message import Message

from gateway.http_rule import parse_template
from gateway.routes import Match, Route, RouteTable
from gateway.transcode import TranscodeError, build_request, parse_query, render_response, to_json_value


def call(table: RouteTable, method: str, url: str, body: bytes = b"", content_type: str = "application/json") -> Any:
    path, _, query = url.partition("?")
    match = table.match(method, path)
    assert match is not None, f"{method} {path} matched nothing"
    return build_request(match, parse_query(query), body, content_type)


def route(table: RouteTable, method: str, http_method: str = "") -> Route:
    found = [r for r in table.routes if r.method == method and (not http_method or r.http_method == http_method)]
    assert len(found) == 1
    return found[0]


def rendered_json(table: RouteTable, method: str, msg: Message, http_method: str = "") -> Any:
    out = render_response(route(table, method, http_method), msg)
    assert out.content_type == "application/json"
    return json.loads(out.body)


# ---------------------------------------------------------------- query string parsing


def test_parse_query() -> None:
    assert parse_query("") == []
    assert parse_query("a=1&b=2&a=3") == [("a", "1"), ("b", "2"), ("a", "3")]
    assert parse_query("name=a%20b+c") == [("name", "a b+c")]  # '+' stays '+', as in Envoy
    assert parse_query("name=caf%C3%A9&x=%2F%26%3D") == [("name", "café"), ("x", "/&=")]
    assert parse_query("a=&b=x=y") == [("a", ""), ("b", "x=y")]
    assert parse_query("&&a=1&") == [("a", "1")]


def test_parse_query_skips_parameters_without_a_name_or_value() -> None:
    # Envoy ignores "flag" (no '=') and "=x" (no name).
    assert parse_query("flag&=x&a=1") == [("a", "1")]


# ---------------------------------------------------------------- path variables


def test_path_variables(table: RouteTable) -> None:
    assert call(table, "GET", "/v1/items/abc").id == "abc"
    assert call(table, "GET", "/v1/star/abc").id == "abc"
    assert call(table, "GET", "/v1/files/a/b/c.txt").name == "a/b/c.txt"
    assert call(table, "GET", "/v1/files").name == ""
    assert call(table, "GET", "/v1/shelves/s/books/b").name == "shelves/s/books/b"
    assert call(table, "POST", "/v1/items/x:cancel").name == "items/x"


def test_escaped_path_variables(table: RouteTable) -> None:
    assert call(table, "GET", "/v1/items/caf%C3%A9").id == "café"
    assert call(table, "GET", "/v1/files/a%2Fb/%C3%A9").name == "a%2Fb/é"
    assert call(table, "POST", "/v1/items/a%2Fb:cancel").name == "items/a%2Fb"


def test_nested_path_fields_with_body_field(table: RouteTable) -> None:
    body = json.dumps({"level": 3, "leaf": {"depth": 2}}).encode()
    req = call(table, "PATCH", "/v1/nested/i1/l1?name=q&inner.level=9", body)
    # Path variables fill the body field's nested fields; the body field's own fields are not
    # taken from the query.
    assert req.inner.id == "i1"
    assert req.inner.leaf.name == "l1"
    assert req.inner.leaf.depth == 2
    assert req.inner.level == 3
    assert req.name == "q"


# ---------------------------------------------------------------- bodies


def test_body_star(table: RouteTable) -> None:
    body = json.dumps({"id": "x", "i64": "12", "tags": ["a"], "inner": {"id": "in"}, "displayName": "camel"}).encode()
    req = call(table, "POST", "/v1/echo", body)
    assert (req.id, req.i64, list(req.tags), req.inner.id, req.display_name) == ("x", 12, ["a"], "in", "camel")


def test_body_star_ignores_the_query_string(table: RouteTable) -> None:
    req = call(table, "POST", "/v1/echo?name=q&i32=notanumber", b'{"name": "b"}')
    assert req.name == "b" and req.i32 == 0


def test_body_star_with_path_variable(table: RouteTable) -> None:
    req = call(table, "POST", "/v1/items/p:cancel", b'{"name": "items/p", "flag": true}')
    assert req.name == "items/p" and req.flag is True


def test_a_body_contradicting_the_path_is_refused(table: RouteTable) -> None:
    with pytest.raises(TranscodeError, match="'items/other' in the body but 'items/p' in the URL path"):
        call(table, "POST", "/v1/items/p:cancel", b'{"name": "items/other", "flag": true}')
    body = json.dumps({"id": "from-body", "leaf": {"name": "l1"}}).encode()
    with pytest.raises(TranscodeError, match="'inner.id' is 'from-body'"):
        call(table, "PATCH", "/v1/nested/i1/l1", body)


def test_body_field(table: RouteTable) -> None:
    body = json.dumps({"id": "i", "name": "n", "u64": "18446744073709551615"}).encode()
    req = call(table, "POST", "/v1/shelves/s1/items?item_id=new&item.name=ignored&parent=ignored", body)
    assert req.parent == "shelves/s1"
    assert req.item_id == "new"
    assert (req.item.id, req.item.name, req.item.u64) == ("i", "n", 2**64 - 1)


def test_body_field_of_additional_binding(table: RouteTable) -> None:
    req = call(table, "PATCH", "/v1/items/a?name=q", b'{"id": "inner-id", "level": 4}')
    assert (req.id, req.name, req.inner.id, req.inner.level) == ("a", "q", "inner-id", 4)


@pytest.mark.parametrize("body", [b"", b"  \n"])
def test_empty_body_is_an_empty_message(table: RouteTable, body: bytes) -> None:
    assert call(table, "POST", "/v1/echo", body) == type(call(table, "POST", "/v1/echo", b"{}"))()
    assert not call(table, "POST", "/v1/shelves/s/items", body).HasField("item")


@pytest.mark.parametrize(
    ("url", "body", "needle"),
    [
        ("/v1/echo", b"{not json", "invalid JSON body"),
        ("/v1/echo", b'{"i32": "x"}', "i32"),
        ("/v1/echo", b'{"i32": 3000000000}', "i32"),
        ("/v1/echo", b"[1, 2]", "invalid JSON body"),
        ("/v1/echo", b"\xff\xfe", "invalid JSON body"),
        ("/v1/shelves/s/items", b"{not json", "invalid JSON body"),
        ("/v1/shelves/s/items", b'"a string"', "invalid JSON body"),
        ("/v1/shelves/s/items", b'{"i32": "x"}', "i32"),  # a wrong type in the body field
    ],
)
def test_bad_json_body(table: RouteTable, url: str, body: bytes, needle: str) -> None:
    with pytest.raises(TranscodeError, match=needle):
        call(table, "POST", url, body)


def test_unknown_body_fields_are_ignored(table: RouteTable) -> None:
    """As Envoy's transcoder and grpc-gateway v2 do: a newer client's extra field is no error."""
    assert call(table, "POST", "/v1/echo", b'{"nope": 1, "i32": 5, "deep": {"x": [1]}}') == call(table, "POST", "/v1/echo", b'{"i32": 5}')
    item = call(table, "POST", "/v1/shelves/s/items", b'{"nope": 1, "title": "t"}')
    assert item == call(table, "POST", "/v1/shelves/s/items", b'{"title": "t"}')


def test_http_body_request_whole(table: RouteTable) -> None:
    data = bytes(range(256)) + b"\r\n--boundary--"
    req = call(table, "POST", "/v1/uploads?ignored=1", data, "multipart/form-data; boundary=x")
    assert isinstance(req, httpbody_pb2.HttpBody)
    assert req.data == data
    assert req.content_type == "multipart/form-data; boundary=x"


def test_http_body_request_field(table: RouteTable) -> None:
    req = call(table, "PUT", "/v1/uploads/u1?etag=e1&file.data=x", b"\x00raw", "application/octet-stream")
    assert req.name == "uploads/u1"
    assert req.etag == "e1"
    assert (req.file.data, req.file.content_type) == (b"\x00raw", "application/octet-stream")


def test_http_body_request_empty(table: RouteTable) -> None:
    req = call(table, "POST", "/v1/uploads", b"", "")
    assert (req.data, req.content_type) == (b"", "")


# ---------------------------------------------------------------- query parameters


def test_query_scalars(table: RouteTable) -> None:
    req = call(
        table,
        "GET",
        "/v1/items/x?name=n&i32=-5&i64=-9223372036854775808&u32=4294967295&u64=18446744073709551615"
        "&s32=-7&f64=8&flag=true&ratio=1.5&weight=-2.25&blob=aGk_&note=set",
    )
    assert (req.name, req.i32, req.i64, req.u32, req.u64, req.s32, req.f64) == (
        "n", -5, -(2**63), 2**32 - 1, 2**64 - 1, -7, 8
    )
    assert req.flag is True and req.ratio == 1.5 and req.weight == -2.25
    assert req.blob == b"hi?"
    assert req.HasField("note") and req.note == "set"


def test_query_bool_false_and_special_floats(table: RouteTable) -> None:
    req = call(table, "GET", "/v1/items/x?flag=false&ratio=NaN&weight=-Infinity")
    assert req.flag is False and req.ratio != req.ratio and req.weight == float("-inf")


def test_query_bytes_accepts_both_base64_alphabets(table: RouteTable) -> None:
    assert call(table, "GET", "/v1/items/x?blob=%2B%2F8%3D").blob == b"\xfb\xff"
    assert call(table, "GET", "/v1/items/x?blob=-_8").blob == b"\xfb\xff"


def test_query_enums_by_name_and_number(table: RouteTable, gwtest: ModuleType) -> None:
    assert call(table, "GET", "/v1/items/x?color=COLOR_BLUE").color == gwtest.COLOR_BLUE
    assert call(table, "GET", "/v1/items/x?color=1").color == gwtest.COLOR_RED
    req = call(table, "GET", "/v1/items/x?colors=COLOR_RED&colors=2&colors=0")
    assert list(req.colors) == [gwtest.COLOR_RED, gwtest.COLOR_BLUE, gwtest.COLOR_UNSPECIFIED]


def test_query_repeated_keys(table: RouteTable) -> None:
    req = call(table, "GET", "/v1/items/x?tags=a&nums=1&tags=b&nums=-2&tags=")
    assert list(req.tags) == ["a", "b", ""]
    assert list(req.nums) == [1, -2]


def test_query_dotted_nested_fields(table: RouteTable) -> None:
    req = call(table, "GET", "/v1/items/x?inner.id=i&inner.level=2&inner.leaf.name=deep&inner.leaf.depth=3")
    assert (req.inner.id, req.inner.level, req.inner.leaf.name, req.inner.leaf.depth) == ("i", 2, "deep", 3)


def test_query_json_names_accepted_proto_names_kept(table: RouteTable) -> None:
    assert call(table, "GET", "/v1/items/x?displayName=a").display_name == "a"
    assert call(table, "GET", "/v1/items/x?display_name=b").display_name == "b"


def test_query_well_known_scalars(table: RouteTable) -> None:
    req = call(table, "GET", "/v1/items/x?limit=7&created=2024-05-06T07:08:09Z")
    assert req.HasField("limit") and req.limit.value == 7
    assert req.created.seconds == 1714979289


def test_query_oneof_last_wins(table: RouteTable) -> None:
    req = call(table, "GET", "/v1/items/x?alpha=a&beta=2")
    assert req.WhichOneof("choice") == "beta" and req.beta == 2


@pytest.mark.parametrize(
    "query",
    [
        "unknown=1",
        "api_key=secret",
        "inner.nope=1",
        "id.x=1",  # through a scalar
        "inner=1",  # a message is no leaf
        "inner.leaves.name=x",  # through a repeated message
        "inners.id=x",
        "labels.a=b",  # maps cannot come from the query string
        "labels=b",
        "extra=1",  # google.protobuf.Value
        "attrs=1",  # google.protobuf.Struct
        "values=1",  # google.protobuf.ListValue
        "id=other",  # bound by the path
    ],
)
def test_query_parameters_ignored(table: RouteTable, query: str) -> None:
    req = call(table, "GET", f"/v1/items/path-id?{query}")
    expected = type(req)(id="path-id")
    assert req == expected


def test_query_cannot_override_nested_path_fields(table: RouteTable) -> None:
    req = call(table, "PATCH", "/v1/nested/i1/l1?inner.id=no&inner.leaf.name=no")
    assert (req.inner.id, req.inner.leaf.name) == ("i1", "l1")


@pytest.mark.parametrize(
    ("query", "needles"),
    [
        ("i32=abc", ["'i32'", "'abc'", "not an integer", "int32"]),
        ("i32=2147483648", ["'i32'", "out of range", "int32"]),
        ("i32=-2147483649", ["out of range"]),
        ("u32=-1", ["'u32'", "out of range", "uint32"]),
        ("u32=4294967296", ["out of range"]),
        ("i64=9223372036854775808", ["'i64'", "out of range", "int64"]),
        ("u64=18446744073709551616", ["out of range", "uint64"]),
        ("i32=1.5", ["not an integer"]),
        ("i32=", ["not an integer"]),
        ("i32=1_000", ["not an integer"]),
        ("i32=%201", ["not an integer"]),
        ("nums=1&nums=x", ["'nums'", "'x'"]),
        ("ratio=abc", ["'ratio'", "not a number"]),
        ("ratio=1_0", ["not a number"]),
        ("weight=1e39", ["'weight'", "out of range", "float"]),
        ("flag=yes", ["'flag'", "'yes'", "not a bool"]),
        ("flag=1", ["not a bool"]),
        ("flag=True", ["not a bool"]),
        ("color=PURPLE", ["'color'", "'PURPLE'", "gwtest.v1.Color", "COLOR_RED"]),
        ("color=2147483648", ["'color'", "out of range"]),
        ("colors=COLOR_RED&colors=nope", ["'colors'", "'nope'"]),
        ("blob=%40%40%40", ["'blob'", "not base64"]),
        ("blob=a", ["not base64"]),
        ("limit=x", ["'limit'", "not an integer"]),
        ("created=yesterday", ["'created'"]),
        ("inner.level=x", ["'inner.level'", "not an integer"]),
    ],
)
def test_bad_query_scalars(table: RouteTable, query: str, needles: list[str]) -> None:
    with pytest.raises(TranscodeError) as info:
        call(table, "GET", f"/v1/items/x?{query}")
    message = str(info.value)
    assert message.startswith("invalid query parameter")
    for needle in needles:
        assert needle in message


def test_bad_path_scalar(gwtest: ModuleType) -> None:
    # A path variable bound to a non-string field is converted like a query parameter.
    item = gwtest.Item.DESCRIPTOR
    numbered = Route("gwtest.v1.GwTestService", "Echo", "GET", parse_template("/v1/n/{i32}"), "", "", item, item, False, 200)
    assert build_request(Match(numbered, {("i32",): "12"}), [], b"", "").i32 == 12
    with pytest.raises(TranscodeError, match="invalid path variable 'i32': 'x' is not an integer"):
        build_request(Match(numbered, {("i32",): "x"}), [], b"", "")


# ---------------------------------------------------------------- responses


def test_zero_values_printed_with_proto_names(table: RouteTable, gwtest: ModuleType) -> None:
    printed = rendered_json(table, "Echo", gwtest.Item(), "GET")
    assert printed == {
        "id": "",
        "name": "",
        "i32": 0,
        "i64": "0",
        "u32": 0,
        "u64": "0",
        "s32": 0,
        "f64": "0",
        "flag": False,
        "ratio": 0.0,
        "weight": 0.0,
        "blob": "",
        "color": "COLOR_UNSPECIFIED",
        "tags": [],
        "nums": [],
        "colors": [],
        "labels": {},
        "display_name": "",
        "inners": [],
    }  # unset messages, unset optional and oneof fields are left out


def test_values_printed(table: RouteTable, gwtest: ModuleType) -> None:
    item = gwtest.Item(
        id="x",
        i64=9007199254740993,
        u64=2**64 - 1,
        u32=2**32 - 1,
        blob=b"\xfb\xff",
        color=gwtest.COLOR_BLUE,
        display_name="d",
        ratio=float("inf"),
        note="",
        beta=0,
        labels={"k": "v"},
    )
    item.inner.leaf.name = "deep"
    item.limit.value = 0
    item.created.FromJsonString("2024-05-06T07:08:09Z")
    printed = rendered_json(table, "Echo", item, "GET")
    assert printed["i64"] == "9007199254740993"  # int64 as a string
    assert printed["u64"] == "18446744073709551615"
    assert printed["u32"] == 4294967295  # 32-bit as a number
    assert printed["blob"] == "+/8="
    assert printed["color"] == "COLOR_BLUE"
    assert printed["display_name"] == "d" and "displayName" not in printed
    assert printed["ratio"] == "Infinity"
    assert printed["note"] == ""  # an optional field that is set prints even when zero
    assert printed["beta"] == 0  # so does a oneof member
    assert printed["labels"] == {"k": "v"}
    assert printed["inner"] == {"id": "", "level": 0, "leaf": {"name": "deep", "depth": 0}, "leaves": []}
    assert printed["limit"] == 0
    assert printed["created"] == "2024-05-06T07:08:09Z"


def test_value_struct_list_fields_as_plain_json(table: RouteTable, gwtest: ModuleType) -> None:
    item = gwtest.Item()
    item.extra.null_value = struct_pb2.NULL_VALUE
    item.attrs.update({"a": 1, "b": [True, None, "s"], "c": {"d": None}})
    item.values.extend([1, "two", None, {"k": []}])
    printed = rendered_json(table, "Echo", item, "GET")
    assert printed["extra"] is None and "extra" in printed
    assert printed["attrs"] == {"a": 1, "b": [True, None, "s"], "c": {"d": None}}
    assert printed["values"] == [1, "two", None, {"k": []}]


def test_bare_value_list_struct_responses(table: RouteTable) -> None:
    null = struct_pb2.Value(null_value=struct_pb2.NULL_VALUE)
    assert render_response(route(table, "GetValue"), null).body == b"null"
    assert render_response(route(table, "GetValue"), struct_pb2.Value(number_value=1.5)).body == b"1.5"
    assert render_response(route(table, "GetValue"), struct_pb2.Value(string_value="é")).body == '"é"'.encode()
    lst = struct_pb2.ListValue()
    lst.extend([1, None, "x", [True]])
    assert json.loads(render_response(route(table, "GetList"), lst).body) == [1, None, "x", [True]]
    assert render_response(route(table, "GetList"), struct_pb2.ListValue()).body == b"[]"
    st = struct_pb2.Struct()
    st.update({"n": None, "k": {"x": 1}})
    assert json.loads(render_response(route(table, "GetStruct"), st).body) == {"n": None, "k": {"x": 1}}


def test_empty_response(table: RouteTable) -> None:
    out = render_response(route(table, "ClearItems"), empty_pb2.Empty())
    assert (out.body, out.content_type) == (b"{}", "application/json")


def test_response_body_message_field(table: RouteTable, gwtest: ModuleType) -> None:
    item = gwtest.Item(id="outer")
    item.inner.id = "in"
    assert rendered_json(table, "Echo", item, "PATCH") == {"id": "in", "level": 0, "leaves": []}
    assert rendered_json(table, "Echo", gwtest.Item(), "PATCH") is None  # unset message: null


def test_response_body_repeated_field(table: RouteTable, gwtest: ModuleType) -> None:
    assert rendered_json(table, "ListTags", gwtest.Item(tags=["a", "b"])) == ["a", "b"]
    assert rendered_json(table, "ListTags", gwtest.Item()) == []


def test_http_body_response(table: RouteTable) -> None:
    out = render_response(route(table, "Download"), httpbody_pb2.HttpBody(content_type="text/csv", data=b"a,b\n"))
    assert (out.body, out.content_type) == (b"a,b\n", "text/csv")
    out = render_response(route(table, "Download"), httpbody_pb2.HttpBody(data=b"\x00\x01"))
    assert (out.body, out.content_type) == (b"\x00\x01", "application/octet-stream")


def test_http_body_response_body_field(table: RouteTable, gwtest: ModuleType) -> None:
    reply = gwtest.DownloadResponse(etag="not sent")
    reply.file.content_type = "image/png"
    reply.file.data = b"\x89PNG"
    out = render_response(route(table, "DownloadField"), reply)
    assert (out.body, out.content_type) == (b"\x89PNG", "image/png")


def test_responses_are_compact_utf8(table: RouteTable, gwtest: ModuleType) -> None:
    out = render_response(route(table, "Echo", "GET"), gwtest.Item(name="café"))
    assert "café".encode() in out.body and b": " not in out.body


def test_to_json_value_is_plain_python(gwtest: ModuleType) -> None:
    value = to_json_value(gwtest.Item(id="x", i64=5))
    assert value["id"] == "x" and value["i64"] == "5"
    json.dumps(value)  # plain JSON types only

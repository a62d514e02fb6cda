"""gateway.http_rule: template grammar, the PathMatcher trie, bind and unescape.

Expected values follow Envoy's grpc_json_transcoder (grpc-httpjson-transcoding's
PathMatcher and HttpTemplate), which the Python gateway must route like.
"""

from __future__ import annotations

import pytest

from gateway.http_rule import (
    PathMatcher,
    SegmentKind,
    TemplateError,
    UnescapeSpec,
    Variable,
    bind,
    parse_template,
    split_path,
    unescape,
)

# ---------------------------------------------------------------- parsing


def test_plain_literals() -> None:
    t = parse_template("/v1/tasks")
    assert [str(s) for s in t.segments] == ["v1", "tasks"]
    assert t.variables == () and t.verb == ""


def test_root_template() -> None:
    t = parse_template("/")
    assert t.segments == () and t.variables == () and t.verb == ""


def test_simple_variable_is_single_wildcard() -> None:
    t = parse_template("/v1/items/{id}")
    assert [s.kind for s in t.segments] == [SegmentKind.LITERAL, SegmentKind.LITERAL, SegmentKind.SINGLE]
    assert t.variables == (Variable(("id",), 2, 3),)


def test_var_star_equals_var() -> None:
    assert parse_template("/v1/{id=*}").key() == parse_template("/v1/{id}").key()


def test_var_with_multi_segment_pattern() -> None:
    t = parse_template("/v1/{name=shelves/*/books/*}")
    assert [str(s) for s in t.segments] == ["v1", "shelves", "*", "books", "*"]
    assert t.variables == (Variable(("name",), 1, 5),)


def test_double_star_variable() -> None:
    t = parse_template("/v1/files/{path=**}")
    assert t.segments[-1].kind is SegmentKind.MULTI
    assert t.variables == (Variable(("path",), 2, 3),)


def test_nested_field_path() -> None:
    t = parse_template("/v1/{task.inner.id}/x")
    assert t.variables[0].field_path == ("task", "inner", "id")


def test_verb_after_variable() -> None:
    t = parse_template("/v1/{name=tasks/*}:cancel")
    assert t.verb == "cancel"
    assert [str(s) for s in t.segments] == ["v1", "tasks", "*"]
    assert t.key() == ("v1", "tasks", "*", ":cancel")


def test_verb_after_literal_and_after_double_star() -> None:
    assert parse_template("/v1/items:clear").verb == "clear"
    t = parse_template("/v1/{name=**}:meta")
    assert t.verb == "meta" and t.segments[-1].kind is SegmentKind.MULTI


def test_anonymous_wildcards() -> None:
    t = parse_template("/v1/*/x/**")
    assert [s.kind for s in t.segments][1:] == [SegmentKind.SINGLE, SegmentKind.LITERAL, SegmentKind.MULTI]
    assert t.variables == ()


def test_literals_after_double_star_allowed() -> None:
    t = parse_template("/v1/{name=**}/logs/tail")
    assert [str(s) for s in t.segments] == ["v1", "**", "logs", "tail"]


@pytest.mark.parametrize(
    "source",
    [
        "",  # empty
        "v1/items",  # no leading '/'
        "/v1//items",  # empty segment
        "/v1/items/",  # trailing '/'
        "/v1/{id",  # unclosed variable
        "/v1/id}",  # stray '}'
        "/v1/a{id}",  # variable not a whole segment
        "/v1/{id}x",  # text after a variable
        "/v1/{a={b}}",  # nested variable
        "/v1/{}",  # empty field path
        "/v1/{a.}",  # empty identifier
        "/v1/{1a}",  # identifier starting with a digit
        "/v1/{a-b}",  # bad identifier
        "/v1/{name=}",  # '=' with no pattern
        "/v1/{name=a//b}",  # empty segment inside a pattern
        "/v1/{id}/{id}",  # a field bound twice
        "/v1/**/**",  # two '**'
        "/v1/**/*",  # a wildcard after '**' (Envoy: only literals may follow)
        "/v1/{a=**}/{b}",  # a variable after '**'
        "/v1/***",  # not a wildcard, not a literal
        "/v1/items:",  # empty verb
        "/v1/items:a/b",  # '/' in a verb
        "/v1/items:a:b",  # ':' in a verb
        "/v1/a:b/c",  # ':' inside a literal that is not the verb
        "/v1/{name=a:b}",  # ':' inside a variable's pattern
        "/:verb",  # a verb with no segments
    ],
)
def test_malformed_templates_raise(source: str) -> None:
    with pytest.raises(TemplateError):
        parse_template(source)


def test_template_error_is_a_value_error() -> None:
    assert issubclass(TemplateError, ValueError)


# ---------------------------------------------------------------- split and unescape


@pytest.mark.parametrize(
    ("raw", "parts"),
    [
        ("/", []),
        ("", []),
        ("/a", ["a"]),
        ("/a/b", ["a", "b"]),
        ("/a/b/", ["a", "b"]),  # trailing empty segments dropped, as Envoy does
        ("/a//b", ["a", "", "b"]),  # inner empty segments are kept
    ],
)
def test_split_path(raw: str, parts: list[str]) -> None:
    assert split_path(raw) == parts


RESERVED = "%21%23%24%26%27%28%29%2A%2B%2C%2F%3A%3B%3D%3F%40%5B%5D"


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        (UnescapeSpec.ALL_CHARACTERS_EXCEPT_RESERVED, RESERVED),
        (UnescapeSpec.ALL_CHARACTERS_EXCEPT_SLASH, "!#$&'()*+,%2F:;=?@[]"),
        (UnescapeSpec.ALL_CHARACTERS, "!#$&'()*+,/:;=?@[]"),
    ],
)
def test_unescape_multi_segment_per_spec(spec: UnescapeSpec, expected: str) -> None:
    assert unescape(RESERVED, spec, multi=True) == expected


@pytest.mark.parametrize("spec", list(UnescapeSpec))
def test_unescape_single_segment_is_always_full(spec: UnescapeSpec) -> None:
    # Envoy: "Single-part component is always fully decoded" whatever the spec.
    assert unescape(RESERVED, spec, multi=False) == "!#$&'()*+,/:;=?@[]"


@pytest.mark.parametrize("multi", [True, False])
def test_unescape_utf8_and_unreserved(multi: bool) -> None:
    spec = UnescapeSpec.ALL_CHARACTERS_EXCEPT_RESERVED
    assert unescape("caf%C3%A9", spec, multi=multi) == "café"
    assert unescape("caf%c3%a9", spec, multi=multi) == "café"  # lower-case hex
    assert unescape("a%20b", spec, multi=multi) == "a b"
    assert unescape("100%25", spec, multi=multi) == "100%"  # '%' is not reserved
    assert unescape("a+b", spec, multi=multi) == "a+b"  # '+' is not a space in paths
    assert unescape("%zz%4", spec, multi=multi) == "%zz%4"  # malformed escapes stay
    assert unescape("%2541", spec, multi=multi) == "%41"  # a single pass


def test_unescape_invalid_utf8_does_not_raise() -> None:
    assert unescape("%FF", UnescapeSpec.ALL_CHARACTERS, multi=False) == "\ufffd"


# ---------------------------------------------------------------- matcher


def _matcher(*templates: str, method: str = "GET") -> PathMatcher[str]:
    m: PathMatcher[str] = PathMatcher()
    for t in templates:
        m.register(method, parse_template(t), t)
    return m


def _hit(m: PathMatcher[str], path: str, method: str = "GET") -> str | None:
    found = m.lookup(method, path)
    return None if found is None else found[0]


def _bind(m: PathMatcher[str], path: str, method: str = "GET") -> tuple[str, dict[str, str]] | None:
    found = m.lookup(method, path)
    if found is None:
        return None
    template, segs, _verb = found
    values = bind(parse_template(template), segs)
    assert values is not None
    return template, {".".join(k): v for k, v in values.items()}


def test_literal_match_and_partial_paths() -> None:
    m = _matcher("/prefix/middle/suffix", "/prefix/middle", "/prefix")
    assert _hit(m, "/prefix/middle/suffix") == "/prefix/middle/suffix"
    assert _hit(m, "/prefix/middle") == "/prefix/middle"
    assert _hit(m, "/prefix") == "/prefix"
    for miss in ("/prefix/middle/suffix/other", "/prefix/middle/other", "/prefix/other", "/other", "/"):
        assert _hit(m, miss) is None


def test_http_method_must_match() -> None:
    m = _matcher("/a/b")
    assert _hit(m, "/a/b", "GET") == "/a/b"
    assert m.lookup("POST", "/a/b") is None


def test_trailing_slash_matches_like_envoy() -> None:
    m = _matcher("/v1/tasks")
    assert _hit(m, "/v1/tasks/") == "/v1/tasks"
    assert _hit(m, "/v1//tasks") is None


def test_root_template_matches_root_only() -> None:
    m = _matcher("/", "/a")
    assert _hit(m, "/") == "/"
    assert _hit(m, "/a") == "/a"
    assert _hit(m, "/b") is None


def test_single_variable_binds_one_segment() -> None:
    m = _matcher("/v1/items/{id}")
    assert _bind(m, "/v1/items/abc") == ("/v1/items/{id}", {"id": "abc"})
    assert _hit(m, "/v1/items/a/b") is None
    assert _hit(m, "/v1/items") is None


def test_double_star_spans_slashes_and_zero_segments() -> None:
    m = _matcher("/v1/files/{path=**}")
    assert _bind(m, "/v1/files/a/b/c.txt") == ("/v1/files/{path=**}", {"path": "a/b/c.txt"})
    assert _bind(m, "/v1/files/a") == ("/v1/files/{path=**}", {"path": "a"})
    assert _bind(m, "/v1/files") == ("/v1/files/{path=**}", {"path": ""})
    assert _bind(m, "/v1/files/") == ("/v1/files/{path=**}", {"path": ""})


def test_root_double_star_matches_everything() -> None:
    m = _matcher("/**")
    for path in ("/", "/a", "/a/", "/a/b/c"):
        assert _hit(m, path) == "/**"


def test_pattern_variables() -> None:
    m = _matcher(
        "/a/{x}/c/d/e",
        "/{x=a/*}/b/{y=*}/c",
        "/a/{x=b/*}/{y=d/**}",
        "/alpha/{x=*}/beta/{y=**}/gamma",
        "/{x=*}/a",
        "/{x=**}/a/b",
    )
    assert _bind(m, "/a/book/c/d/e") == ("/a/{x}/c/d/e", {"x": "book"})
    assert _bind(m, "/a/hello/b/world/c") == ("/{x=a/*}/b/{y=*}/c", {"x": "a/hello", "y": "world"})
    assert _bind(m, "/a/b/zoo/d/animal/tiger") == ("/a/{x=b/*}/{y=d/**}", {"x": "b/zoo", "y": "d/animal/tiger"})
    assert _bind(m, "/alpha/dog/beta/eat/bones/gamma") == (
        "/alpha/{x=*}/beta/{y=**}/gamma",
        {"x": "dog", "y": "eat/bones"},
    )
    assert _bind(m, "/foo/a") == ("/{x=*}/a", {"x": "foo"})
    assert _bind(m, "/foo/bar/a/b") == ("/{x=**}/a/b", {"x": "foo/bar"})


def test_literal_beats_single_beats_double_star() -> None:
    m = _matcher("/p/special", "/p/{id}", "/p/{rest=**}")
    assert _hit(m, "/p/special") == "/p/special"
    assert _bind(m, "/p/other") == ("/p/{id}", {"id": "other"})
    assert _bind(m, "/p/a/b") == ("/p/{rest=**}", {"rest": "a/b"})
    assert _bind(m, "/p") == ("/p/{rest=**}", {"rest": ""})


def test_priority_is_depth_first() -> None:
    # Envoy's trie: the more specific branch wins even when a wildcard one also matches.
    m = _matcher("/c/*/d/**", "/c/*/d/e", "/c/f/d/e", "/a/**", "/b/*")
    assert _hit(m, "/c/x/d/e") == "/c/*/d/e"
    assert _hit(m, "/c/f/d/e") == "/c/f/d/e"
    assert _hit(m, "/c/u/d/v") == "/c/*/d/**"
    assert _hit(m, "/c/v/d/w/x") == "/c/*/d/**"
    assert _hit(m, "/c/x/y/d/z") is None
    assert _hit(m, "/c//v/d/w/x") is None
    assert _hit(m, "/a/b/c") == "/a/**"
    assert _hit(m, "/b/c") == "/b/*"


def test_literal_branch_backtracks_to_wildcard() -> None:
    # /c/f/d/x: the literal 'f' branch has no /d/x, so '*' is tried next.
    m = _matcher("/c/f/d/e", "/c/*/d/x")
    assert _hit(m, "/c/f/d/x") == "/c/*/d/x"


def test_double_star_takes_the_first_literal_suffix_that_matches() -> None:
    # Envoy walks '**' one segment at a time and tries the literal children first,
    # so the longer suffix wins when both fit.
    m = _matcher("/t/{name=**}/leaf", "/t/{name=**}/branch/leaf")
    assert _bind(m, "/t/a/branch/leaf") == ("/t/{name=**}/branch/leaf", {"name": "a"})
    assert _bind(m, "/t/a/b/leaf") == ("/t/{name=**}/leaf", {"name": "a/b"})
    assert _bind(m, "/t/leaf/leaf") == ("/t/{name=**}/leaf", {"name": "leaf"})
    assert _bind(m, "/t/a/leaf/b/leaf") == ("/t/{name=**}/leaf", {"name": "a/leaf/b"})


def test_double_star_before_literals_needs_a_segment() -> None:
    # As in Envoy, a '**' followed by literals matches one segment or more.
    m = _matcher("/t/{name=**}/leaf")
    assert _hit(m, "/t/leaf") is None


def test_constant_suffixes_after_double_star() -> None:
    m = _matcher(
        "/a/{x=b/**}",
        "/a/{x=b/**}/z",
        "/a/{x=b/**}/y/z",
        "/a/{x=b/**}:verb",
        "/a/{x=**}",
        "/c/{x=*}/{y=d/**}/e",
        "/c/{x=*}/{y=d/**}/e:verb",
    )
    assert _bind(m, "/a/b/hello/world/c") == ("/a/{x=b/**}", {"x": "b/hello/world/c"})
    assert _bind(m, "/a/b/world/c/z") == ("/a/{x=b/**}/z", {"x": "b/world/c"})
    assert _bind(m, "/a/b/world/c/y/z") == ("/a/{x=b/**}/y/z", {"x": "b/world/c"})
    assert _bind(m, "/a/b/world/c:verb") == ("/a/{x=b/**}:verb", {"x": "b/world/c"})
    assert _bind(m, "/a/hello/b/world/c") == ("/a/{x=**}", {"x": "hello/b/world/c"})
    assert _bind(m, "/c/hello/d/esp/world/e") == ("/c/{x=*}/{y=d/**}/e", {"x": "hello", "y": "d/esp/world"})
    assert _bind(m, "/c/hola/d/esp/mundo/e:verb") == (
        "/c/{x=*}/{y=d/**}/e:verb",
        {"x": "hola", "y": "d/esp/mundo"},
    )


# ---------------------------------------------------------------- custom verbs


def test_verb_after_variable_and_after_literal() -> None:
    m = _matcher("/v1/{name=tasks/*}:cancel", "/v1/tasks:clear", method="POST")
    assert _bind(m, "/v1/tasks/t1:cancel", "POST") == ("/v1/{name=tasks/*}:cancel", {"name": "tasks/t1"})
    assert _hit(m, "/v1/tasks:clear", "POST") == "/v1/tasks:clear"
    assert _hit(m, "/v1/tasks/t1", "POST") is None  # the verb is required
    assert _hit(m, "/v1/tasks/t1:stop", "POST") is None  # another verb


def test_lookup_reports_the_verb_and_raw_segments() -> None:
    m = _matcher("/v1/{name=tasks/*}:cancel")
    assert m.lookup("GET", "/v1/tasks/a%2Fb:cancel") == ("/v1/{name=tasks/*}:cancel", ["v1", "tasks", "a%2Fb"], "cancel")


def test_colon_that_is_not_a_registered_verb_stays_in_the_segment() -> None:
    m = _matcher("/v1/files/{name}", "/v1/x/{id}:cancel")
    assert _bind(m, "/v1/files/a:b") == ("/v1/files/{name}", {"name": "a:b"})
    assert _bind(m, "/v1/files/a:b:c") == ("/v1/files/{name}", {"name": "a:b:c"})


def test_registered_verb_is_always_split_like_envoy() -> None:
    # Envoy strips a registered verb before matching and does not retry without it:
    # GET /v1/files/a:cancel finds no GET rule with the verb "cancel".
    m = _matcher("/v1/files/{name}", "/v1/x/{id}:cancel")
    assert _hit(m, "/v1/files/a:cancel") is None


def test_colon_before_the_last_slash_is_not_a_verb() -> None:
    m = _matcher("/foo/*/hello", "/foo/{a}:verb")
    assert _hit(m, "/foo/other:verb/hello") == "/foo/*/hello"
    assert _hit(m, "/foo/other:verb/") is None  # the '/' comes after the ':'


def test_custom_verb_issue_cases() -> None:
    # grpc-httpjson-transcoding's CustomVerbIssue and CustomVerbMatch5.
    m = _matcher("/person", "/person/{id=*}", "/{x=**}:verb")
    assert _bind(m, "/person:verb") == ("/{x=**}:verb", {"x": "person"})
    assert _bind(m, "/person/jason:verb") == ("/{x=**}:verb", {"x": "person/jason"})
    assert _hit(m, "/person") == "/person"
    assert _hit(m, "/person/jason") == "/person/{id=*}"
    assert _hit(m, "/animal/cat") is None
    assert _hit(m, "/person:other") is None
    assert _bind(m, "/person/jason:other") == ("/person/{id=*}", {"id": "jason:other"})

    m = _matcher("/{a=**}:verb", "/{a=**}")
    assert _bind(m, "/some:verb/const:verb") == ("/{a=**}:verb", {"a": "some:verb/const"})
    assert _bind(m, "/some:verb/const") == ("/{a=**}", {"a": "some:verb/const"})
    assert _bind(m, "/some:verb2/const:verb2") == ("/{a=**}", {"a": "some:verb2/const:verb2"})


def test_verb_is_per_template_not_per_method() -> None:
    # A verb registered by a POST rule is still split off a GET request.
    m: PathMatcher[str] = PathMatcher()
    m.register("POST", parse_template("/v1/{name=tasks/*}:cancel"), "cancel")
    m.register("GET", parse_template("/v1/{name=tasks/*}"), "get")
    assert _hit(m, "/v1/tasks/a") == "get"
    assert _hit(m, "/v1/tasks/a:cancel", "POST") == "cancel"
    assert _hit(m, "/v1/tasks/a:cancel", "GET") is None


# ---------------------------------------------------------------- HTTP method wildcard and conflicts


def test_custom_star_method_matches_any_method() -> None:
    m: PathMatcher[str] = PathMatcher()
    m.register("*", parse_template("/any"), "any")
    m.register("GET", parse_template("/any"), "get")
    assert _hit(m, "/any", "GET") == "get"  # an exact method wins
    assert _hit(m, "/any", "DELETE") == "any"
    assert _hit(m, "/any", "PATCH") == "any"


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("/v1/items/{id}", "/v1/items/{name}"),  # same shape, different field
        ("/v1/items/{id}", "/v1/items/*"),
        ("/v1/items/{id=*}", "/v1/items/{name}"),
        ("/v1/{name=tasks/*}:cancel", "/v1/tasks/{id}:cancel"),
        ("/v1/{path=**}", "/v1/**"),
        ("/v1/x", "/v1/x"),
    ],
)
def test_conflicting_bindings_raise(first: str, second: str) -> None:
    m: PathMatcher[str] = PathMatcher()
    m.register("GET", parse_template(first), first)
    with pytest.raises(TemplateError, match="conflicting"):
        m.register("GET", parse_template(second), second)


def test_same_template_different_methods_or_verbs_do_not_conflict() -> None:
    m: PathMatcher[str] = PathMatcher()
    m.register("GET", parse_template("/v1/items/{id}"), "get")
    m.register("DELETE", parse_template("/v1/items/{id}"), "delete")
    m.register("GET", parse_template("/v1/items/{id}:watch"), "watch")
    assert _hit(m, "/v1/items/a", "DELETE") == "delete"
    assert _hit(m, "/v1/items/a:watch") == "watch"


# ---------------------------------------------------------------- bind and escapes


def test_bind_escapes_in_single_and_multi_segment_variables() -> None:
    m = _matcher("/a/{x}/c", "/b/{x=**}/c", "/d/{x=d/*}")
    # One segment: fully decoded (Envoy's PercentEscapesUnescapedForSingleSegment).
    assert _bind(m, "/a/p%20q%2Fr+/c") == ("/a/{x}/c", {"x": "p q/r+"})
    assert _bind(m, "/a/caf%C3%A9/c") == ("/a/{x}/c", {"x": "café"})
    # Several segments: reserved characters, '%2F' among them, stay encoded.
    assert _bind(m, "/b/p/foo%20foo/q/bar%2Fbar+/c") == ("/b/{x=**}/c", {"x": "p/foo foo/q/bar%2Fbar+"})
    assert _bind(m, "/b/caf%C3%A9/c") == ("/b/{x=**}/c", {"x": "café"})
    assert _bind(m, "/d/d/a%2Fb%3Ac") == ("/d/{x=d/*}", {"x": "d/a%2Fb%3Ac"})


def test_escaped_slash_does_not_split_segments() -> None:
    m = _matcher("/v1/{name=tasks/*}")
    assert _bind(m, "/v1/tasks/a%2Fb") == ("/v1/{name=tasks/*}", {"name": "tasks/a%2Fb"})


def test_literals_compare_with_the_raw_path() -> None:
    m = _matcher("/v1/items")
    assert _hit(m, "/v1/%69tems") is None


@pytest.mark.parametrize(
    ("spec", "single", "multi"),
    [
        (UnescapeSpec.ALL_CHARACTERS_EXCEPT_RESERVED, "!#$&'()*+,/:;=?@[]", RESERVED),
        (UnescapeSpec.ALL_CHARACTERS_EXCEPT_SLASH, "!#$&'()*+,/:;=?@[]", "!#$&'()*+,%2F:;=?@[]"),
        (UnescapeSpec.ALL_CHARACTERS, "!#$&'()*+,/:;=?@[]", "!#$&'()*+,/:;=?@[]"),
    ],
)
def test_bind_per_unescape_spec(spec: UnescapeSpec, single: str, multi: str) -> None:
    # grpc-httpjson-transcoding's MultiSegmentMatchWithReservedCharactersBase.
    t = parse_template("/a/{x=*}/{y=**}/c")
    values = bind(t, ["a", RESERVED, RESERVED, "c"], spec)
    assert values == {("x",): single, ("y",): multi}


def test_double_star_matching_one_segment_is_still_multi() -> None:
    t = parse_template("/a/{y=**}")
    assert bind(t, ["a", "x%2Fy"]) == {("y",): "x%2Fy"}


def test_bind_returns_none_when_segments_do_not_fit() -> None:
    t = parse_template("/v1/{name=tasks/*}")
    assert bind(t, ["v1", "nodes", "x"]) is None
    assert bind(t, ["v1", "tasks"]) is None
    assert bind(t, ["v1", "tasks", "a", "b"]) is None


def test_deep_path_under_double_star_does_not_recurse() -> None:
    m = _matcher("/f/{p=**}", "/g/{p=**}/end")
    deep = "/".join(["s"] * 5000)
    assert _bind(m, f"/f/{deep}") == ("/f/{p=**}", {"p": deep})
    assert _bind(m, f"/g/{deep}/end") == ("/g/{p=**}/end", {"p": deep})

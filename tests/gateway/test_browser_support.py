"""The pieces behind what browsers need: the methods a path allows (the 405's Allow) and the CORS policy."""

from __future__ import annotations

import pytest

from gateway.cors import ALL_METHODS, CorsError, CorsPolicy
from gateway.routes import RouteTable


@pytest.mark.parametrize(
    ("path", "allowed"),
    [
        ("/v1/tasks", ("GET", "POST")),
        ("/v1/tasks/", ("GET", "POST")),  # a trailing slash is dropped, as Envoy drops it
        ("/v1/tasks/t1", ("DELETE", "GET")),
        ("/v1/tasks/t1:cancel", ("POST",)),  # the verb's templates only
        ("/v1/no-such-collection", ()),
        ("/v1/tasks/t1/no-such-thing", ()),
    ],
)
def test_allowed_methods_are_the_methods_whose_routes_match(core_table: RouteTable, path: str, allowed: tuple) -> None:
    assert core_table.allowed_methods(path) == allowed
    for method in allowed:
        assert core_table.match(method, path) is not None
    assert core_table.match("PUT", path) is None


def test_origins_are_checked_deduplicated_and_matched_exactly() -> None:
    policy = CorsPolicy.parse(["https://app.example.com/", "http://localhost:3000", "https://app.example.com"])
    assert policy.origins == ("https://app.example.com", "http://localhost:3000")
    assert policy.enabled and not policy.any_origin
    assert policy.allows("http://localhost:3000")
    assert not policy.allows("http://localhost:3001") and not policy.allows("https://APP.example.com.evil")
    assert not policy.allows(None) and not policy.allows("")


@pytest.mark.parametrize("bad", ["localhost:3000", "https://a.example/path", "https://", "", "null x"])
def test_a_bad_origin_is_refused_with_what_to_give(bad: str) -> None:
    with pytest.raises(CorsError, match=r"scheme://host\[:port\]"):
        CorsPolicy.parse([bad])


def test_no_origin_is_cors_off_and_star_is_any_origin() -> None:
    assert not CorsPolicy.parse([]).enabled
    anyone = CorsPolicy.parse(["*"])
    assert anyone.any_origin and anyone.allows("https://whoever.example")


def test_a_preflight_answer_mirrors_the_requested_headers_and_names_the_origin() -> None:
    headers = CorsPolicy.parse(["*"]).preflight_headers("https://a.example", "authorization, x-custom")
    # Never "*" for the origin: a browser refuses it on a call with credentials.
    assert headers["Access-Control-Allow-Origin"] == "https://a.example"
    assert headers["Access-Control-Allow-Credentials"] == "true"
    assert headers["Access-Control-Allow-Headers"] == "authorization, x-custom"
    assert headers["Access-Control-Allow-Methods"] == ", ".join(ALL_METHODS)
    assert headers["Vary"] == "Origin"


def test_envoy_gets_the_same_policy() -> None:
    policy = CorsPolicy.parse(["https://a.example", "http://localhost:3000"]).envoy_policy()
    assert policy["allow_origin_string_match"] == [{"exact": "https://a.example"}, {"exact": "http://localhost:3000"}]
    assert policy["allow_credentials"] is True and policy["allow_methods"] == ", ".join(ALL_METHODS)
    assert {"authorization", "content-type", "x-api-key"} <= {h.strip() for h in policy["allow_headers"].split(",")}
    assert CorsPolicy.parse(["*"]).envoy_policy()["allow_origin_string_match"] == [{"safe_regex": {"regex": ".+"}}]

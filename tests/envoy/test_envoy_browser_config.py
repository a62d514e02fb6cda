"""The generated Envoy config for browsers: the CORS filter (only with origins), the 405 routes."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from cli.envoy_command import envoy_config
from gateway.cors import CorsPolicy
from gateway.envoy import write_envoy_config
from test_envoy_config import filters, hcm, load, routes, validate

CORS = "envoy.filters.http.cors"
TRANSCODER = "envoy.filters.http.grpc_json_transcoder"


def _main(path: Path) -> dict[str, Any]:
    return next(lst for lst in load(path)["static_resources"]["listeners"] if lst["name"] == "main")


def test_without_origins_there_is_no_cors_filter(tmp_path: Path) -> None:
    listener = _main(write_envoy_config(tmp_path, "127.0.0.1:50051", {"main": ("127.0.0.1", 8000)}))
    assert CORS not in filters(listener)
    assert CORS not in hcm(listener)["route_config"]["virtual_hosts"][0].get("typed_per_filter_config", {})


def test_with_origins_the_cors_filter_comes_first_and_the_policy_is_on_the_virtual_host(tmp_path: Path) -> None:
    path = write_envoy_config(tmp_path, "127.0.0.1:50051", {"main": ("127.0.0.1", 8000)},
                              cors=CorsPolicy.parse(["https://app.example"]))  # fmt: skip
    validate(path)
    listener = _main(path)
    names = [f["name"] for f in hcm(listener)["http_filters"]]
    # Before the transcoder (and everything else), so a preflight never reaches it.
    assert names[0] == CORS and names.index(CORS) < names.index(TRANSCODER)
    host = hcm(listener)["route_config"]["virtual_hosts"][0]
    policy = host["typed_per_filter_config"][CORS]
    assert policy["@type"].endswith("envoy.extensions.filters.http.cors.v3.CorsPolicy")
    assert policy["allow_origin_string_match"] == [{"exact": "https://app.example"}] and policy["allow_credentials"]
    # The filter finds its policy through the request's route: the last route takes any REST path.
    assert host["routes"][-1]["match"] == {"prefix": "/"}


def test_a_405_route_per_path_template_answers_other_methods(tmp_path: Path) -> None:
    listener = _main(write_envoy_config(tmp_path, "127.0.0.1:50051", {"main": ("127.0.0.1", 8000)}))
    by_regex = {r["match"]["safe_regex"]["regex"]: r for r in routes(listener)
                if "allowed:" in str(r.get("typed_per_filter_config", {}))}  # fmt: skip
    tasks = by_regex["^/v1/tasks/*$"]
    method = next(h for h in tasks["match"]["headers"] if h["name"] == ":method")
    assert method["invert_match"] and method["string_match"]["safe_regex"]["regex"] == "^(GET|POST)$"
    # /v1/tasks/{id} leaves out the paths of the verb templates under it (:cancel, ...): they answer themselves.
    one = by_regex["^/v1/tasks/[^/]+/*$"]
    left_out = [h["string_match"]["safe_regex"]["regex"] for h in one["match"]["headers"] if h["name"] == ":path"]
    assert any(":cancel" in regex for regex in left_out)
    assert re.match(next(r for r in left_out if ":cancel" in r), "/v1/tasks/t1:cancel?x=1")


def test_envoy_config_takes_cors_origins_and_refuses_a_bad_one(tmp_path: Path) -> None:
    runner = CliRunner()
    ok = runner.invoke(envoy_config, ["--controller", "127.0.0.1:50051", "--out", str(tmp_path / "a"),
                                      "--cors-origin", "http://localhost:3000", "--cors-origin", "*"])  # fmt: skip
    assert ok.exit_code == 0, ok.output
    assert "development" in ok.output  # '*' is said to be for development
    policy = hcm(_main(tmp_path / "a" / "envoy.yaml"))["route_config"]["virtual_hosts"][0]["typed_per_filter_config"]
    assert policy[CORS]["allow_origin_string_match"] == [{"safe_regex": {"regex": ".+"}}]
    bad = runner.invoke(envoy_config, ["--controller", "127.0.0.1:50051", "--out", str(tmp_path / "b"),
                                       "--cors-origin", "localhost:3000"])  # fmt: skip
    assert bad.exit_code == 2 and "scheme://host[:port]" in bad.output
    assert not (tmp_path / "b").exists()

"""The generated Envoy config: Envoy accepts it, it follows the listener table and the
descriptors, and the committed example (envoy/) is what the generator writes today."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner
from google.protobuf import descriptor_pb2

from cli.envoy_command import envoy_config
from envoy_process import envoy_binary
from farm_processes import REPO
from gateway.descriptors import find_services, import_generated
from gateway.envoy import (
    CONFIG_FILE,
    DESCRIPTOR_FILE,
    TRANSCODE_HEADROOM,
    template_regex,
    write_envoy_config,
)
from gateway.http_rule import parse_template
from gateway.listeners import CORE_SERVICES, LISTENERS, Listener, by_name
from gateway.routes import RouteTable

TRANSCODER = "envoy.filters.http.grpc_json_transcoder"
BUFFER = "envoy.filters.http.buffer"


def validate(config: Path, cwd: Path | None = None) -> None:
    done = subprocess.run([envoy_binary(), "--mode", "validate", "-c", str(config)], cwd=cwd,
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr


def load(path: Path) -> dict[str, Any]:
    return yaml.safe_load(path.read_text())


def hcm(listener: dict[str, Any]) -> dict[str, Any]:
    return listener["filter_chains"][0]["filters"][0]["typed_config"]


def filters(listener: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {f["name"]: f["typed_config"] for f in hcm(listener)["http_filters"]}


def routes(listener: dict[str, Any]) -> list[dict[str, Any]]:
    return hcm(listener)["route_config"]["virtual_hosts"][0]["routes"]


def test_the_generated_config_passes_envoy_validate(tmp_path: Path) -> None:
    path = write_envoy_config(tmp_path, "controller.internal:50051", {"main": ("0.0.0.0", 8000)},
                              admin=("127.0.0.1", 9901))  # fmt: skip
    assert path == tmp_path / CONFIG_FILE and (tmp_path / DESCRIPTOR_FILE).is_file()
    validate(path)
    config = load(path)
    assert config["static_resources"]["clusters"][0]["type"] == "STRICT_DNS"  # a host name, not an IP


def test_one_envoy_listener_per_table_listener_each_with_exactly_its_services(tmp_path: Path) -> None:
    table = (
        *LISTENERS,
        Listener("health_only", 8100, ("aifarm.v1.SystemService",)),
        Listener("unused", 8101, ("aifarm.v1.NodeService",)),
        Listener("empty", 8102, ()),
    )
    binds = {"main": ("127.0.0.1", 8000), "health_only": ("127.0.0.1", 8100), "empty": ("127.0.0.1", 8102)}
    path = write_envoy_config(tmp_path, "127.0.0.1:50051", binds, table=table)
    validate(path)
    listeners = {lst["name"]: lst for lst in load(path)["static_resources"]["listeners"]}
    # 'empty' has no services, 'unused' was not asked for
    assert set(listeners) == {"main", "health_only"}
    assert listeners["health_only"]["address"]["socket_address"] == {"address": "127.0.0.1", "port_value": 8100}
    assert filters(listeners["main"])[TRANSCODER]["services"] == sorted(by_name()["main"].services)
    assert filters(listeners["health_only"])[TRANSCODER]["services"] == ["aifarm.v1.SystemService"]
    # after transcoding, only the listener's own services have a route to the controller
    prefixes = [r["match"]["prefix"] for r in routes(listeners["health_only"])
                if "route" in r and "prefix" in r["match"]]  # fmt: skip
    assert prefixes[0] == "/aifarm.v1.SystemService/"


def test_unknown_or_empty_listeners_and_huge_limits_are_refused(tmp_path: Path) -> None:
    with pytest.raises(KeyError, match="nosuch"):
        write_envoy_config(tmp_path, "127.0.0.1:50051", {"nosuch": ("127.0.0.1", 1)})
    with pytest.raises(ValueError, match="has services"):
        write_envoy_config(tmp_path, "127.0.0.1:50051", {"client_process": ("127.0.0.1", 9000)})
    with pytest.raises(ValueError, match="4 GiB"):
        write_envoy_config(tmp_path, "127.0.0.1:50051", {"main": ("127.0.0.1", 8000)}, max_upload_bytes=2**32)


def test_transcoder_options_are_the_ones_design_lists(tmp_path: Path) -> None:
    path = write_envoy_config(tmp_path, "127.0.0.1:50051", {"main": ("127.0.0.1", 8000)},
                              max_body_bytes=1000, max_upload_bytes=5000)  # fmt: skip
    listener = load(path)["static_resources"]["listeners"][0]
    transcoder = filters(listener)[TRANSCODER]
    assert transcoder["convert_grpc_status"] is True
    assert transcoder["print_options"] == {
        "always_print_primitive_fields": True, "preserve_proto_field_names": True, "stream_newline_delimited": True,
    }  # fmt: skip
    assert transcoder["request_validation_options"] == {
        "reject_unknown_method": True, "reject_binding_body_field_collisions": True,
    }  # fmt: skip
    assert transcoder["ignore_unknown_query_parameters"] is True and transcoder["auto_mapping"] is False
    # the buffer filter holds the body limit; the transcoder gets room for the message around it
    assert filters(listener)[BUFFER]["max_request_bytes"] == 1000
    assert transcoder["max_request_body_size"] == 1000 + TRANSCODE_HEADROOM
    assert transcoder["max_response_body_size"] == 5000  # unary replies; downloads stream past it
    assert transcoder["proto_descriptor"] == str((tmp_path / DESCRIPTOR_FILE).resolve())
    # Lua is listed before the transcoder, so that it sees the transcoded reply
    assert list(filters(listener)) == [BUFFER, "envoy.filters.http.lua", TRANSCODER, "envoy.filters.http.router"]
    overrides = [r for r in routes(listener) if TRANSCODER in r.get("typed_per_filter_config", {})]
    uploads = [r for r in overrides if r["match"].get("safe_regex")]
    assert [r["match"]["safe_regex"]["regex"] for r in uploads] == ["^/api/v1/datasets$|^/api/v1/models$|^/v1/datasets$|^/v1/models$"]
    # uploads are client streams (each piece of the body a message): never buffered whole, the
    # controller enforces their limit (its RESOURCE_EXHAUSTED is 413 through the methods' Lua)
    assert [r["typed_per_filter_config"][BUFFER] for r in uploads] == [
        {"@type": "type.googleapis.com/envoy.extensions.filters.http.buffer.v3.BufferPerRoute", "disabled": True}
    ]
    assert [r["typed_per_filter_config"][TRANSCODER]["max_request_body_size"] for r in uploads] == [
        5000 + TRANSCODE_HEADROOM
    ]
    sse = [r for r in overrides if r["match"].get("headers", [{}])[0].get("name") == "accept"]
    assert sse[0]["typed_per_filter_config"][TRANSCODER]["print_options"]["stream_sse_style_delimited"] is True


def test_streaming_methods_have_no_timeouts(tmp_path: Path) -> None:
    import_generated()
    table = RouteTable.for_services(find_services(CORE_SERVICES)).routes
    # downloads (HttpBody streams) are never silent: they keep Envoy's stream idle timeout
    streams = sorted(r.grpc_path for r in table if r.server_streaming and not r.raw_response_body)
    downloads = sorted(r.grpc_path for r in table if r.server_streaming and r.raw_response_body)
    assert "/aifarm.v1.TaskService/StreamTaskLogs" in streams
    assert "/aifarm.v1.DatasetService/DownloadDataset" in downloads
    listener = load(write_envoy_config(tmp_path, "127.0.0.1:50051", {"main": ("127.0.0.1", 8000)}))[
        "static_resources"]["listeners"][0]  # fmt: skip
    idle = sorted(r["match"]["path"] for r in routes(listener) if r.get("route", {}).get("idle_timeout") == "0s")
    assert idle == streams
    assert all(r["route"]["timeout"] == "0s" for r in routes(listener) if "route" in r)


def test_non_200_success_codes_become_per_route_lua_from_the_descriptors(tmp_path: Path) -> None:
    import_generated()
    expected = {r.grpc_path: r.success_code
                for r in RouteTable.for_services(find_services(by_name()["main"].services)).routes
                if r.success_code != 200}  # fmt: skip
    assert expected["/aifarm.v1.TaskService/CreateTask"] == 201
    assert expected["/aifarm.v1.DatasetService/DeleteDataset"] == 204
    listener = load(write_envoy_config(tmp_path, "127.0.0.1:50051", {"main": ("127.0.0.1", 8000)}))[
        "static_resources"]["listeners"][0]  # fmt: skip
    scripts = filters(listener)["envoy.filters.http.lua"]["source_codes"]
    found = {}
    for route in routes(listener):
        lua = route.get("typed_per_filter_config", {}).get("envoy.filters.http.lua")
        if lua and "name" in lua:  # the 405 routes carry their own inline script
            code = re.search(r'replace\(":status", "(\d+)"\)', scripts[lua["name"]]["inline_string"])
            if code:  # a route may have only error statuses (test below)
                found[route["match"]["path"]] = int(code.group(1))
    assert found == expected


@pytest.mark.parametrize(
    ("template", "matches", "misses"),
    [
        ("/v1/datasets", ["/v1/datasets"], ["/v1/datasets/x", "/v1/dataset"]),
        ("/v1/{name=models/*}:upload", ["/v1/models/m1:upload"], ["/v1/models/m1", "/v1/models/a/b:upload"]),
        ("/v1/{name=files/**}", ["/v1/files", "/v1/files/a/b.txt"], ["/v1/filesx"]),
        ("/", ["/"], ["/x"]),
    ],
)
def test_upload_routes_match_rest_paths_by_template(template: str, matches: list[str], misses: list[str]) -> None:
    regex = re.compile(template_regex(parse_template(template)))
    assert all(regex.match(p) for p in matches), regex.pattern
    assert not any(regex.match(p) for p in misses), regex.pattern


def test_the_descriptor_set_is_deterministic_and_carries_error_details(tmp_path: Path) -> None:
    write_envoy_config(tmp_path / "a", "127.0.0.1:50051", {"main": ("127.0.0.1", 8000)})
    write_envoy_config(tmp_path / "b", "127.0.0.1:50051", {"main": ("127.0.0.1", 8000)})
    data = (tmp_path / "a" / DESCRIPTOR_FILE).read_bytes()
    assert data == (tmp_path / "b" / DESCRIPTOR_FILE).read_bytes()
    names = [f.name for f in descriptor_pb2.FileDescriptorSet.FromString(data).file]
    assert "google/rpc/error_details.proto" in names and "aifarm/v1/task_service.proto" in names


def test_the_committed_example_is_in_sync_and_valid() -> None:
    check = subprocess.run([sys.executable, "scripts/generate_envoy_example.py", "--check"], cwd=REPO,
                           capture_output=True, text=True, timeout=120)  # fmt: skip
    assert check.returncode == 0, check.stdout + check.stderr
    validate(Path("envoy") / CONFIG_FILE, cwd=REPO)  # it names envoy/aifarm.pb relative to the repo root


def test_the_example_check_fails_when_stale(tmp_path: Path) -> None:
    script = REPO / "scripts" / "generate_envoy_example.py"
    copy = tmp_path / "scripts" / script.name
    copy.parent.mkdir()
    copy.write_text(script.read_text())
    run = [sys.executable, str(copy), "--check"]
    missing = subprocess.run(run, capture_output=True, text=True, timeout=120)
    assert missing.returncode == 1 and "envoy.yaml, aifarm.pb" in missing.stderr
    assert subprocess.run([sys.executable, str(copy)], capture_output=True, timeout=120).returncode == 0
    assert subprocess.run(run, capture_output=True, timeout=120).returncode == 0
    (tmp_path / "envoy" / DESCRIPTOR_FILE).write_bytes(b"old")
    stale = subprocess.run(run, capture_output=True, text=True, timeout=120)
    assert stale.returncode == 1 and "aifarm.pb" in stale.stderr and "envoy.yaml" not in stale.stderr


def test_the_cli_writes_a_config_envoy_accepts(tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = CliRunner().invoke(envoy_config, ["--controller", "127.0.0.1:50051", "--out", str(out),
                                               "--listen", "main=127.0.0.1:18080", "--admin", "127.0.0.1:19901",
                                               "--max-body-mb", "1"])  # fmt: skip
    assert result.exit_code == 0, result.output
    validate(out / CONFIG_FILE)
    listener = load(out / CONFIG_FILE)["static_resources"]["listeners"][0]
    assert listener["address"]["socket_address"] == {"address": "127.0.0.1", "port_value": 18080}
    assert filters(listener)[BUFFER]["max_request_bytes"] == 2**20

    bad = CliRunner().invoke(envoy_config, ["--controller", "nohost", "--out", str(out)])
    assert bad.exit_code == 2 and "HOST:PORT" in bad.output
    bad = CliRunner().invoke(envoy_config, ["--controller", "h:1", "--out", str(out), "--listen", "nosuch=h:1"])
    assert bad.exit_code == 2 and "main" in bad.output

"""Where the command-line client finds the CA it verifies the controller with (the rules, no processes;
tests/integration/test_tls_farm.py runs the client against a real TLS farm)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cli.client_connection import CliError, resolve_connection

ADDRESS = "127.0.0.1:50051"


def tls_data_dir(path: Path, address: str = ADDRESS, *, ca: bool = True) -> Path:
    """A data directory as `aifarm up --tls` leaves it."""
    (path / "pki").mkdir(parents=True)
    (path / "api_keys").write_text("key\n")
    (path / "pki" / "ca.crt").write_text("-----BEGIN CERTIFICATE-----\n")
    doc = {"grpc": address, "api_key_file": str(path / "api_keys"), "tls": True}
    if ca:
        doc["ca_file"] = str(path / "pki" / "ca.crt")
    (path / "endpoints.json").write_text(json.dumps(doc))
    return path


def test_the_data_directory_names_the_ca_of_its_own_controller(tmp_path: Path) -> None:
    farm = tls_data_dir(tmp_path / "farm")
    local = resolve_connection(None, None, str(farm), {})
    assert local.tls and local.ca_file == farm / "pki" / "ca.crt"
    # The same directory says nothing about a controller named elsewhere: no CA, no TLS.
    other = resolve_connection("10.0.0.9:50051", "k", str(farm), {})
    assert not other.tls and other.ca_file is None


def test_option_beats_env_beats_data_dir(tmp_path: Path) -> None:
    farm = tls_data_dir(tmp_path / "farm")
    opt, env = tmp_path / "opt.crt", tmp_path / "env.crt"
    opt.write_text("x")
    env.write_text("x")
    environ = {"AIFARM_CA_FILE": str(env)}
    assert resolve_connection(None, None, str(farm), environ, ca_file=str(opt)).ca_file == opt
    assert resolve_connection(None, None, str(farm), environ).ca_file == env
    named = resolve_connection("10.0.0.9:50051", "k", None, environ)
    assert named.tls and named.ca_file == env


def test_tls_without_a_ca_file_trusts_the_system_store(tmp_path: Path) -> None:
    farm = tls_data_dir(tmp_path / "farm", ca=False)
    chosen = resolve_connection(None, None, str(farm), {})
    assert chosen.tls and chosen.ca_file is None


def test_a_missing_ca_file_is_a_configuration_error(tmp_path: Path) -> None:
    with pytest.raises(CliError, match="does not exist") as caught:
        resolve_connection(ADDRESS, "k", None, {}, ca_file=str(tmp_path / "nope.crt"))
    assert caught.value.exit_code == 2

"""Envoy with TLS on both sides: HTTPS for clients, TLS to the controller checked against the farm CA.

The certificates are the ones a `--tls` controller issued itself (its pki/); Envoy
is the real binary, and every generated config passes `envoy --mode validate`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest
import requests
import yaml
from test_envoy_config import validate

from controller.config import ControllerConfig
from controller.pki import FarmCA
from controller.tls import ServerTls
from envoy_process import EnvoyProcess
from farm_processes import API_KEY, ControllerProcess, free_port
from gateway.envoy import EnvoyTls, write_envoy_config

HEADERS = {"Authorization": f"Bearer {API_KEY}"}
TASK = {"display_name": "through envoy", "script": {"source": "print(1)"}, "resources": {"gpus": 64}}


@pytest.fixture(scope="module")
def controller(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControllerProcess]:
    root = tmp_path_factory.mktemp("envoy_tls")
    proc = ControllerProcess(root / "controller", free_port(), extra=["--tls", "--agent-port", str(free_port())]).start()
    try:
        yield proc
    finally:
        proc.kill()


def pki(controller: ControllerProcess) -> Path:
    return controller.data_dir / "pki"


def test_tls_configs_pass_envoy_validate_and_check_the_controllers_name(tmp_path: Path) -> None:
    tls = ServerTls.prepare(ControllerConfig(data_dir=tmp_path / "data", tls=True))
    both = EnvoyTls.from_files(tls.ca.ca_file, tls.cert_file, tls.key_file)
    by_name = write_envoy_config(tmp_path / "by_name", "controller.internal:50051", {"main": ("0.0.0.0", 8443)},
                                 tls=both)  # fmt: skip
    by_ip = write_envoy_config(tmp_path / "by_ip", "10.0.0.5:50051", {"main": ("0.0.0.0", 8443)},
                               tls=EnvoyTls.from_files(controller_ca=tls.ca.ca_file))  # fmt: skip
    for path in (by_name, by_ip):
        validate(path)

    def upstream(path: Path) -> dict:
        cluster = yaml.safe_load(path.read_text())["static_resources"]["clusters"][0]
        return cluster["transport_socket"]["typed_config"]

    named = upstream(by_name)
    assert named["sni"] == "controller.internal"
    assert named["common_tls_context"]["validation_context"] == {
        "trusted_ca": {"filename": str(tls.ca.ca_file)},
        "match_typed_subject_alt_names": [{"san_type": "DNS", "matcher": {"exact": "controller.internal"}}],
    }
    addressed = upstream(by_ip)
    assert "sni" not in addressed  # SNI never carries an address
    assert addressed["common_tls_context"]["validation_context"]["match_typed_subject_alt_names"] == [
        {"san_type": "IP_ADDRESS", "matcher": {"exact": "10.0.0.5"}}]  # fmt: skip
    listener = yaml.safe_load(by_ip.read_text())["static_resources"]["listeners"][0]
    assert "transport_socket" not in listener["filter_chains"][0]  # HTTPS only when given a certificate
    with pytest.raises(ValueError, match="both"):
        EnvoyTls(cert_chain="/x.crt")


def test_https_through_envoy_to_a_tls_controller(controller: ControllerProcess, tmp_path: Path) -> None:
    ca = str(controller.ca_file)
    tls = EnvoyTls.from_files(controller.ca_file, pki(controller) / "server.crt", pki(controller) / "server.key")
    envoy = EnvoyProcess(tmp_path / "envoy", controller.address, tls=tls, ca_file=controller.ca_file)
    try:
        envoy.start()
        validate(envoy.config_path)
        assert envoy.url.startswith("https://")
        created = requests.post(f"{envoy.url}/v1/tasks", json=TASK, headers=HEADERS, timeout=10, verify=ca)
        assert created.status_code == 201, created.text
        got = requests.get(f"{envoy.url}/v1/{created.json()['name']}", headers=HEADERS, timeout=10, verify=ca)
        assert got.status_code == 200 and got.json()["display_name"] == "through envoy"
        denied = requests.get(f"{envoy.url}/v1/tasks", timeout=10, verify=ca)
        assert denied.status_code == 401  # TLS is no substitute for the key
        with pytest.raises(requests.exceptions.SSLError):
            requests.get(f"{envoy.url}/v1/health", timeout=10)  # the farm CA is not a public one
        with pytest.raises(requests.exceptions.ConnectionError):  # no plain HTTP beside HTTPS
            requests.get(envoy.url.replace("https://", "http://") + "/v1/health", timeout=10)
    finally:
        envoy.stop()


def test_envoy_refuses_a_controller_it_cannot_verify(controller: ControllerProcess, tmp_path: Path) -> None:
    # Plain HTTP to clients, TLS to the controller: it works.
    trusting = EnvoyProcess(tmp_path / "trusting", controller.address, tls=EnvoyTls.from_files(controller.ca_file))
    # Another farm's CA: the controller's certificate does not verify, nothing is forwarded.
    stranger = FarmCA.load_or_create(tmp_path / "stranger")
    wrong = EnvoyProcess(tmp_path / "wrong", controller.address, tls=EnvoyTls.from_files(stranger.ca_file))
    # No TLS to a TLS controller: no fallback either.
    blind = EnvoyProcess(tmp_path / "blind", controller.address)
    try:
        for envoy in (trusting, wrong, blind):
            envoy.start()
        ok = requests.get(f"{trusting.url}/v1/tasks?page_size=1", headers=HEADERS, timeout=10)
        assert ok.status_code == 200, ok.text
        for envoy in (wrong, blind):
            refused = requests.get(f"{envoy.url}/v1/tasks?page_size=1", headers=HEADERS, timeout=30)
            assert refused.status_code == 503, refused.text
    finally:
        for envoy in (trusting, wrong, blind):
            envoy.stop()

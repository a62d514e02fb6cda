"""How the client finds the controller and its key, and what it says when it cannot.

The resolution rules are checked as plain functions first; then every source
(options, environment, a data directory's endpoints.json and key file) is used
for real against a running controller, and so is every kind of failure.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from client_runs import Farm, clean_environ, invoke, run_process

from cli.client_connection import CliError, resolve_connection
from farm_processes import AGENT_TOKEN, API_KEY, ControllerProcess, free_port

KEY = "secret-key"


def write_data_dir(path: Path, address: str, keys: str = f"{KEY}\nother-key\n") -> Path:
    """A data directory as `aifarm up` leaves it: endpoints.json and a key file."""
    path.mkdir(parents=True, exist_ok=True)
    key_file = path / "api_keys"
    key_file.write_text(keys)
    (path / "endpoints.json").write_text(json.dumps({"grpc": address, "api_key_file": str(key_file)}))
    return path


def dead_address() -> str:
    return f"127.0.0.1:{free_port()}"


# ------------------------------------------------------------ the rules


def test_option_beats_env_beats_data_dir(tmp_path: Path) -> None:
    data_dir = write_data_dir(tmp_path / "farm", "127.0.0.1:1111")
    env = {"AIFARM_CONTROLLER": "127.0.0.1:2222", "AIFARM_API_KEY": "env-key"}

    chosen = resolve_connection("127.0.0.1:3333", "opt-key", str(data_dir), env)
    assert (chosen.address, chosen.address_source) == ("127.0.0.1:3333", "--controller")
    assert (chosen.api_key, chosen.api_key_source) == ("opt-key", "--api-key")

    chosen = resolve_connection(None, None, str(data_dir), env)
    assert (chosen.address, chosen.api_key) == ("127.0.0.1:2222", "env-key")
    assert chosen.api_key_source == "AIFARM_API_KEY"

    chosen = resolve_connection(None, None, str(data_dir), {})
    assert chosen.address == "127.0.0.1:1111"
    assert chosen.api_key == KEY  # the first line of the key file
    assert chosen.metadata() == (("authorization", f"Bearer {KEY}"),)


def test_data_dir_from_env_and_default(tmp_path: Path) -> None:
    write_data_dir(tmp_path / "envdir", "127.0.0.1:4444")
    write_data_dir(tmp_path / ".aifarm", "127.0.0.1:5555")
    env = {"AIFARM_DATA_DIR": str(tmp_path / "envdir")}
    assert resolve_connection(None, None, None, env).address == "127.0.0.1:4444"
    assert resolve_connection(None, None, None, {}).address == "127.0.0.1:5555"  # ./.aifarm


def test_local_key_is_only_for_the_local_controller(tmp_path: Path) -> None:
    write_data_dir(tmp_path / ".aifarm", "127.0.0.1:5555")
    chosen = resolve_connection("10.0.0.9:50051", None, None, {})
    assert chosen.api_key is None and chosen.metadata() == ()
    assert resolve_connection("127.0.0.1:5555", None, None, {}).api_key == KEY
    assert resolve_connection(None, None, None, {"AIFARM_CONTROLLER": "127.0.0.1:5555"}).api_key == KEY


def test_broken_endpoints_file_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / ".aifarm").mkdir()
    (tmp_path / ".aifarm" / "endpoints.json").write_text("{not json")
    with pytest.raises(CliError, match="not valid JSON"):
        resolve_connection(None, None, None, {})
    result = invoke("tasks")
    assert result.code == 2 and "endpoints.json is not valid JSON" in result.stderr

    (tmp_path / ".aifarm" / "endpoints.json").write_text('{"http": "127.0.0.1:8000"}')
    result = invoke("tasks")
    assert result.code == 2 and 'has no "grpc" address' in result.stderr


# ------------------------------------------- each source, for real


def test_data_dir_option_finds_the_controller_and_its_key(farm: Farm) -> None:
    result = invoke("nodes", "--data-dir", str(farm.data_dir))
    assert result.code == 0, result.stderr
    assert farm.agent.node_id in result.stdout


def test_data_dir_from_env(farm: Farm) -> None:
    result = run_process("nodes", env=clean_environ(AIFARM_DATA_DIR=str(farm.data_dir)))
    assert result.code == 0, result.stderr
    assert farm.agent.node_id in result.stdout


def test_default_data_dir_is_dot_aifarm_in_the_working_directory(farm: Farm, tmp_path: Path) -> None:
    workdir = tmp_path / "project"
    workdir.mkdir()
    (workdir / ".aifarm").symlink_to(farm.data_dir)  # where `aifarm up` was run
    result = run_process("nodes", cwd=workdir)
    assert result.code == 0, result.stderr
    assert farm.agent.node_id in result.stdout


def test_env_names_controller_and_key(farm: Farm) -> None:
    env = clean_environ(AIFARM_CONTROLLER=farm.address, AIFARM_API_KEY=API_KEY)
    result = run_process("nodes", "--json", env=env)
    assert result.code == 0, result.stderr
    assert [n["name"] for n in json.loads(result.stdout)] == [f"nodes/{farm.agent.node_id}"]


def test_env_controller_takes_the_key_of_the_data_dir_that_describes_it(farm: Farm) -> None:
    env = clean_environ(AIFARM_CONTROLLER=farm.address, AIFARM_DATA_DIR=str(farm.data_dir))
    result = run_process("tasks", env=env)
    assert result.code == 0, result.stderr


def test_options_beat_env(farm: Farm) -> None:
    env = {"AIFARM_CONTROLLER": dead_address(), "AIFARM_API_KEY": "wrong"}
    result = invoke("nodes", *farm.args(), env=env)
    assert result.code == 0, result.stderr
    assert farm.agent.node_id in result.stdout


def test_local_key_is_not_sent_to_another_controller(farm: Farm, controller: ControllerProcess,
                                                     tmp_path: Path) -> None:  # fmt: skip
    (tmp_path / ".aifarm").symlink_to(farm.data_dir)
    # The other controller accepts the same key; it is refused only because none was sent.
    result = invoke("tasks", "--controller", controller.address)
    assert result.code == 1
    assert "requires an API key and none was found" in result.stderr
    assert invoke("tasks", "--controller", controller.address, "--api-key", API_KEY).code == 0
    assert invoke("tasks", "--controller", farm.address).code == 0  # the local one gets it


# --------------------------------------------------------- failures


def test_wrong_key_names_where_it_came_from(farm: Farm, tmp_path: Path) -> None:
    result = invoke("tasks", *farm.args(key="wrong"))
    assert result.code == 1
    assert f"controller at {farm.address} (from --controller) rejected the API key from --api-key" in result.stderr

    result = invoke("tasks", env={"AIFARM_CONTROLLER": farm.address, "AIFARM_API_KEY": "wrong"})
    assert result.code == 1
    assert "(from AIFARM_CONTROLLER) rejected the API key from AIFARM_API_KEY" in result.stderr

    data_dir = write_data_dir(tmp_path / "stale", farm.address, keys="an-old-key\n")
    result = invoke("tasks", "--data-dir", str(data_dir))
    assert result.code == 1
    assert f"rejected the API key from {data_dir / 'api_keys'}" in result.stderr
    assert "Traceback" not in result.stderr


def test_missing_key_says_how_to_pass_one(farm: Farm) -> None:
    result = invoke("tasks", "--controller", farm.address)
    assert result.code == 1
    assert "requires an API key and none was found: pass --api-key or set AIFARM_API_KEY" in result.stderr


def test_agent_token_is_not_an_api_key(farm: Farm) -> None:
    result = invoke("tasks", *farm.args(key=AGENT_TOKEN))
    assert result.code == 1
    assert "PERMISSION_DENIED" in result.stderr and "use an API key" in result.stderr


def test_unreachable_controller(tmp_path: Path) -> None:
    address = dead_address()
    result = run_process("tasks", "--controller", address, "--api-key", API_KEY)
    assert result.code == 1
    assert f"controller not reachable at {address} (from --controller)" in result.stderr
    assert "aifarm up" in result.stderr
    assert result.stdout == "" and "Traceback" not in result.stderr


def test_stale_endpoints_of_a_killed_controller(controller: ControllerProcess) -> None:
    assert invoke("tasks", "--data-dir", str(controller.data_dir)).code == 0
    controller.kill()  # SIGKILL: endpoints.json stays behind
    result = invoke("tasks", "--data-dir", str(controller.data_dir))
    assert result.code == 1
    endpoints = controller.data_dir / "endpoints.json"
    assert f"controller not reachable at {controller.address} (from {endpoints})" in result.stderr


def test_no_controller_found_says_how_to_fix() -> None:
    result = run_process("tasks")
    assert result.code == 2
    assert "no controller found" in result.stderr
    assert "aifarm up" in result.stderr and "--controller" in result.stderr
    assert "Traceback" not in result.stderr

"""One farm (a controller and an agent) behind each REST door in turn: the Python
gateway (`aifarm gateway`) and Envoy with the config `aifarm envoy-config` writes."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import pytest
import requests

from farm_processes import API_KEY, AgentProcess, Client, ControllerProcess, GatewayProcess, free_port, wait_for

#: The JSON body limit of both doors (--max-body-mb; Envoy: the buffer filter).
MAX_BODY_BYTES = 1 << 20
#: The upload limit, enforced by the controller (--max-upload-mb) as uploads stream in:
#: its RESOURCE_EXHAUSTED is a 413 through both doors (the methods' error_statuses).
UPLOAD_LIMIT_BYTES = 8 << 20
#: The doors' own upload limit, above the controller's so that the controller's answer is
#: what the tests see (the gateway cuts a body over it with its own 413; Envoy streams uploads
#: unbuffered and leaves the limit to the controller).
DOOR_UPLOAD_LIMIT_BYTES = 2 * UPLOAD_LIMIT_BYTES


@dataclass
class Farm:
    controller: ControllerProcess
    agent: AgentProcess
    client: Client


@dataclass
class Door:
    """A REST door in front of the farm's controller."""

    name: str
    url: str

    def call(self, method: str, path: str, *, key: str | None = API_KEY, **kw: Any) -> requests.Response:
        headers = dict(kw.pop("headers", {}))
        if key is not None:
            headers.setdefault("Authorization", f"Bearer {key}")
        return requests.request(method, self.url + path, headers=headers, timeout=30, **kw)


@pytest.fixture(scope="module")
def farm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Farm]:
    # No rate limits: a module's tests call faster than AI Farm's 60 a minute (its own tests check them).
    yield from running_farm(tmp_path_factory.mktemp("farm"), ["--max-upload-mb", str(UPLOAD_LIMIT_BYTES >> 20),
                                                              "--rate-limit-per-minute", "0"])  # fmt: skip


def running_farm(root: Path, controller_args: list[str]) -> Iterator[Farm]:
    """A controller started with ``controller_args`` and one agent, until the generator is closed."""
    controller = ControllerProcess(root / "controller", free_port(), extra=controller_args).start()
    agent = AgentProcess(controller.address, root / "agent").start()
    client = Client(controller.address)
    wait_for(lambda: len(client.online_nodes()) == 1, what="the agent to join")
    yield Farm(controller, agent, client)
    client.close()
    agent.stop()
    controller.kill()


def start_door(kind: str, work: Path, controller: str) -> Any:
    """A started door process of the given kind; it has `.url` and `.stop()`."""
    if kind == "gateway":
        extra = ["--max-body-mb", str(MAX_BODY_BYTES / 2**20), "--max-upload-mb", str(DOOR_UPLOAD_LIMIT_BYTES >> 20)]
        return GatewayProcess(controller, work / "gateway.log", extra=extra).start()
    from envoy_process import EnvoyProcess

    return EnvoyProcess(work, controller, max_body_bytes=MAX_BODY_BYTES, max_upload_bytes=DOOR_UPLOAD_LIMIT_BYTES).start()


@pytest.fixture(scope="module", params=["gateway", "envoy"])
def door(request: pytest.FixtureRequest, farm: Farm, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Door]:
    proc = start_door(request.param, tmp_path_factory.mktemp(request.param), farm.controller.address)
    yield Door(request.param, proc.url)
    proc.stop()


@pytest.fixture(scope="module")
def both_doors(farm: Farm, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """The gateway and Envoy at once, in front of the module's farm (tests/doors/both_doors.py)."""
    from both_doors import Doors

    procs = {kind: start_door(kind, tmp_path_factory.mktemp(kind), farm.controller.address) for kind in ("gateway", "envoy")}
    yield Doors(*(Door(kind, proc.url) for kind, proc in procs.items()))
    for proc in procs.values():
        proc.stop()

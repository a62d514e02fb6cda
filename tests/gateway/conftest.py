"""Compiles the test-only proto (protos/gwtest/v1/gwtest.proto) once per session.

The generated module goes to a temporary folder, never into the repository;
importing it registers gwtest.v1 in the default descriptor pool.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from types import ModuleType

import grpc_tools
import pytest
from grpc_tools import protoc

from gateway.descriptors import find_services, import_generated
from gateway.listeners import by_name
from gateway.routes import RouteTable

ROOT = Path(__file__).resolve().parents[2]
PROTOS = Path(__file__).resolve().parent / "protos"


@pytest.fixture(scope="session")
def gwtest(tmp_path_factory: pytest.TempPathFactory) -> ModuleType:
    """The generated gwtest.v1 module (gwtest_pb2)."""
    if "gwtest.v1.gwtest_pb2" in sys.modules:
        return sys.modules["gwtest.v1.gwtest_pb2"]
    out = tmp_path_factory.mktemp("gwtest_gen")
    well_known = Path(grpc_tools.__file__).parent / "_proto"
    args = [
        "protoc",
        f"-I{PROTOS}",
        f"-I{ROOT / 'proto'}",
        f"-I{ROOT / 'third_party' / 'googleapis'}",
        f"-I{well_known}",
        f"--python_out={out}",
        "gwtest/v1/gwtest.proto",
    ]
    assert protoc.main(args) == 0, "protoc failed on the test proto"
    for pkg in (out / "gwtest", out / "gwtest" / "v1"):
        (pkg / "__init__.py").touch()
    sys.path.insert(0, str(out))
    try:
        return importlib.import_module("gwtest.v1.gwtest_pb2")
    finally:
        sys.path.remove(str(out))


@pytest.fixture(scope="session")
def table(gwtest: ModuleType) -> RouteTable:
    """The route table of gwtest.v1.GwTestService."""
    return RouteTable.for_services([gwtest.DESCRIPTOR.services_by_name["GwTestService"]])


@pytest.fixture(scope="session")
def core_table() -> RouteTable:
    """The route table of the 'main' listener (the core aifarm.v1 services)."""
    import_generated("aifarm")
    return RouteTable.for_services(find_services(by_name()["main"].services))

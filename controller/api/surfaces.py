"""Which gRPC services the controller serves: one table per surface, built from the wired domain.

A surface (the core API, or one documented system) lists its services here as
bindings; the composition root adds every binding to the server, and
reflection, health and the auth options follow from the same list. A new
surface is one more table, not another block in the server.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import grpc
from google.protobuf.descriptor import FileDescriptor, ServiceDescriptor

from controller.api.auth import Credentials
from controller.config import ControllerConfig
from controller.domain.farm import Farm
from controller.host_probe import HostProbe


@dataclass(frozen=True)
class Serving:
    """What a servicer may be built from."""

    farm: Farm
    config: ControllerConfig
    #: API keys and the join token (rotated in place).
    credentials: Credentials
    #: When the controller started (Unix seconds).
    started: float
    host: HostProbe


@dataclass(frozen=True)
class Binding:
    """One gRPC service: its descriptor, the generated add-to-server function, and how to build its servicer."""

    service: ServiceDescriptor
    add_to_server: Callable[[Any, grpc.aio.Server], None]
    build: Callable[[Serving], object]


def binding(file: FileDescriptor, name: str, add_to_server: Callable[[Any, grpc.aio.Server], None],
            build: Callable[[Serving], object]) -> Binding:  # fmt: skip
    return Binding(file.services_by_name[name], add_to_server, build)


def all_surfaces() -> list[Binding]:
    """Every service of every surface."""
    from controller.api.compat.aifactory.services import SERVICES as AI_FACTORY
    from controller.api.compat.aifarm.services import SERVICES as AI_FARM
    from controller.api.compat.gswarm.services import SERVICES as GSWARM
    from controller.api.compat.servermgmt.services import SERVICES as SERVER_MANAGEMENT
    from controller.api.compat.shelby.services import SERVICES as SHELBY
    from controller.api.core_services import SERVICES as CORE

    surfaces: Sequence[list[Binding]] = (CORE, SERVER_MANAGEMENT, SHELBY, AI_FARM, GSWARM, AI_FACTORY)
    return [b for surface in surfaces for b in surface]

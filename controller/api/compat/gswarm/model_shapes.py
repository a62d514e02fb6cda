"""gswarm's model shapes <-> the core registry's models."""

from __future__ import annotations

import math
from typing import Any

from google.protobuf import json_format

from aifarm.compat.gswarm.v1 import host_model_service_pb2 as pb
from controller.api.compat.json_values import fill_struct
from controller.api.compat.servermgmt.shapes import iso
from controller.domain.errors import InvalidArgument
from controller.domain.types import Model

READY, REGISTERED = "ready", "registered"


def status(model: Model) -> str:
    return READY if model.ready else REGISTERED


def matches(model: Model, request: pb.ListModelsRequest) -> bool:
    """The list's filters: type, status, and a location given whole, as a node or as a device."""
    if request.type and model.model_type != request.type:
        return False
    if request.status and status(model) != request.status:
        return False
    if request.location:
        places = {part for loc in model.locations for part in (loc.device, *loc.device.split(":", 1))}
        return request.location in places
    return True


def host_model(model: Model, *, with_metadata: bool = False) -> pb.HostModel:
    msg = pb.HostModel(model_name=model.name, model_type=model.model_type, model_size=float(model.size_bytes),
                       locations=[loc.device for loc in model.locations], status=status(model))  # fmt: skip
    if with_metadata:
        extra: dict[str, Any] = {"created_at": iso(model.create_time)}
        if model.source_url:
            extra["source_url"] = model.source_url
        if model.sha256:
            extra["sha256"] = model.sha256
        fill_struct(msg.metadata, {**model.metadata, **extra})
    return msg


def registered(request: pb.RegisterModelRequest) -> Model:
    """The model a register request makes (its name is checked by the registry)."""
    size = request.model_size
    if not (math.isfinite(size) and 0 <= size < 2**63 and size.is_integer()):
        raise InvalidArgument(f"model_size must be a whole number of bytes, not {size}")
    metadata = json_format.MessageToDict(request.metadata) if request.HasField("metadata") else {}
    return Model(request.model_name, int(size), "", model_type=request.model_type, source_url=request.source_url,
                 metadata=metadata)  # fmt: skip


def action(message: str, **data: Any) -> pb.ActionResponse:
    reply = pb.ActionResponse(success=True, message=message)
    fill_struct(reply.data, data)
    return reply

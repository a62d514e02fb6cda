"""Task specs as the store keeps them: the domain's own JSON (taskspec dataclasses), never a wire format."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

from google.protobuf import json_format

from controller.domain.types import TaskSpec, spec_kind
from taskspec.command import CommandSpec
from taskspec.model_operation import ModelOperationSpec, Operation, Pool
from taskspec.script import ScriptSpec
from taskspec.serving import ServingSpec
from taskspec.training import SyntheticData, TrainingConfig, TrainingSpec


def spec_to_json(spec: TaskSpec) -> str:
    raw = asdict(spec)
    if isinstance(spec, ModelOperationSpec):
        raw["operation"] = spec.operation.value
        raw["pool"] = spec.pool.value
    return json.dumps(raw, separators=(",", ":"))


def spec_from_json(kind: str, text: str) -> TaskSpec:
    """A spec read back; a script's large fields may be absent (a list's summary rows)."""
    raw: dict[str, Any] = json.loads(text)
    if kind == "script":
        return ScriptSpec(
            source=raw.get("source", ""), entrypoint=raw["entrypoint"], interpreter=raw["interpreter"],
            args=tuple(raw["args"]), env=raw.get("env", {}), requirements=raw.get("requirements", ""),
        )  # fmt: skip
    if kind == "command":
        return CommandSpec(argv=tuple(raw["argv"]), env=raw.get("env", {}), working_directory=raw["working_directory"])
    if kind == "training":
        synthetic = raw.get("synthetic")
        return TrainingSpec(
            config=TrainingConfig(**raw["config"]), dataset=raw["dataset"],
            synthetic=SyntheticData(**synthetic) if synthetic else None,
            model_url=raw.get("model_url", ""), model_version=raw.get("model_version", ""),
        )  # fmt: skip
    if kind == "serving":
        return ServingSpec(**raw)
    if kind == "model_operation":
        # A spec stored before the data pool has no "pool": it was a model's.
        pool = Pool(raw.get("pool", Pool.MODELS.value))
        return ModelOperationSpec(**{**raw, "operation": Operation(raw["operation"]), "pool": pool})
    raise ValueError(f"unknown task kind {kind!r} in the store")


def legacy_spec_to_json(kind: str, proto_json: str) -> str:
    """A spec stored before schema 4 (the core proto's JSON) in the domain's JSON."""
    from aifarm.v1 import task_pb2
    from taskspec.proto import script_from_proto, training_from_proto

    if kind == "script":
        spec: TaskSpec = script_from_proto(json_format.Parse(proto_json, task_pb2.ScriptSpec(), ignore_unknown_fields=True))
    else:
        spec = training_from_proto(json_format.Parse(proto_json, task_pb2.TrainingSpec(), ignore_unknown_fields=True))
    assert spec_kind(spec) == kind
    return spec_to_json(spec)

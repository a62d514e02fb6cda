"""Specs <-> their aifarm.v1 messages, one conversion for both sides.

Reading a message applies the documented defaults (a zero means "default" in
proto3), so the controller stores and shows what will run, and the agent runs
exactly what it was sent.
"""

from __future__ import annotations

from google.protobuf import json_format

from aifarm.v1 import task_pb2
from taskspec.command import CommandSpec
from taskspec.errors import SpecError
from taskspec.model_operation import ModelOperationSpec, Operation, Pool
from taskspec.script import DEFAULT_ENTRYPOINT, ScriptSpec
from taskspec.serving import BUILT_IN_FRAMEWORK, ServingSpec
from taskspec.training import (
    DEFAULT_BATCH_SIZE,
    DEFAULT_LEARNING_RATE,
    DEFAULT_VALIDATION_SPLIT,
    SyntheticData,
    TrainingConfig,
    TrainingSpec,
)

DATASET_PREFIX = "datasets/"


def training_from_proto(msg: task_pb2.TrainingSpec) -> TrainingSpec:
    config = TrainingConfig(
        architecture=msg.architecture,
        epochs=msg.epochs,
        batch_size=msg.batch_size or DEFAULT_BATCH_SIZE,
        learning_rate=msg.learning_rate or DEFAULT_LEARNING_RATE,
        optimizer=msg.optimizer or "adam",
        loss_function=msg.loss_function or "cross_entropy",
        # A float32 on the wire: round off the noise (0.2 arrives as 0.20000000298).
        validation_split=round(msg.validation_split, 6) or DEFAULT_VALIDATION_SPLIT,
        seed=msg.seed,
        device=msg.device or "auto",
    )
    source = msg.WhichOneof("data")
    if source == "synthetic":
        s = msg.synthetic
        synthetic = SyntheticData(
            samples=s.samples or 512, features=s.features or 16, classes=s.classes or 4,
            image_size=s.image_size, channels=s.channels or 3,
        )  # fmt: skip
        return TrainingSpec(config, synthetic=synthetic, model_url=msg.model_url, model_version=msg.model_version)
    dataset = msg.dataset.removeprefix(DATASET_PREFIX) if source == "dataset" else ""
    return TrainingSpec(config, dataset=dataset, model_url=msg.model_url, model_version=msg.model_version)


def training_to_proto(spec: TrainingSpec) -> task_pb2.TrainingSpec:
    c = spec.config
    msg = task_pb2.TrainingSpec(
        architecture=c.architecture, epochs=c.epochs, batch_size=c.batch_size, learning_rate=c.learning_rate,
        optimizer=c.optimizer, loss_function=c.loss_function, validation_split=c.validation_split, seed=c.seed,
        device=c.device, model_url=spec.model_url, model_version=spec.model_version,
    )  # fmt: skip
    if spec.synthetic is not None:
        s = spec.synthetic
        msg.synthetic.CopyFrom(task_pb2.SyntheticDataset(
            samples=s.samples, features=s.features, classes=s.classes, image_size=s.image_size, channels=s.channels,
        ))  # fmt: skip
    elif spec.dataset:
        msg.dataset = DATASET_PREFIX + spec.dataset
    return msg


def script_from_proto(msg: task_pb2.ScriptSpec) -> ScriptSpec:
    return ScriptSpec(
        source=msg.source, entrypoint=msg.entrypoint or DEFAULT_ENTRYPOINT, interpreter=msg.interpreter,
        args=tuple(msg.args), env=dict(msg.env), requirements=msg.requirements,
    )  # fmt: skip


def script_to_proto(spec: ScriptSpec) -> task_pb2.ScriptSpec:
    return task_pb2.ScriptSpec(
        source=spec.source, entrypoint=spec.entrypoint, interpreter=spec.interpreter, args=spec.args,
        env=spec.env, requirements=spec.requirements,
    )  # fmt: skip


def command_from_proto(msg: task_pb2.CommandSpec) -> CommandSpec:
    return CommandSpec(argv=tuple(msg.argv), env=dict(msg.env), working_directory=msg.working_directory)


def command_to_proto(spec: CommandSpec) -> task_pb2.CommandSpec:
    return task_pb2.CommandSpec(argv=spec.argv, env=spec.env, working_directory=spec.working_directory)


def model_operation_from_proto(msg: task_pb2.ModelOperationSpec) -> ModelOperationSpec:
    """`SpecError` for an operation that is not set."""
    if msg.operation == task_pb2.MODEL_OPERATION_UNSPECIFIED:
        raise SpecError("model_operation.operation is not set: give DOWNLOAD, MOVE, COPY or DELETE")
    operation = Operation[task_pb2.ModelOperation.Name(msg.operation).removeprefix("MODEL_OPERATION_")]
    return ModelOperationSpec(
        operation=operation, model=msg.model, source_url=msg.source_url, source_device=msg.source_device,
        target_device=msg.target_device, keep_source=msg.keep_source, verify_checksum=msg.verify_checksum,
        sha256=msg.sha256, bandwidth_limit=msg.bandwidth_limit, force=msg.force,
        pool=pool_from_proto(msg.pool),
    )  # fmt: skip


def model_operation_to_proto(spec: ModelOperationSpec) -> task_pb2.ModelOperationSpec:
    return task_pb2.ModelOperationSpec(
        operation=task_pb2.ModelOperation.Value(f"MODEL_OPERATION_{spec.operation.name}"), model=spec.model,
        source_url=spec.source_url, source_device=spec.source_device, target_device=spec.target_device,
        keep_source=spec.keep_source, verify_checksum=spec.verify_checksum, sha256=spec.sha256,
        bandwidth_limit=spec.bandwidth_limit, force=spec.force, pool=storage_pool(spec.pool),
    )  # fmt: skip


def storage_pool(pool: Pool) -> int:
    """The proto's StoragePool (MODELS stays UNSPECIFIED, so a models operation is encoded as before)."""
    return task_pb2.STORAGE_POOL_DATA if pool is Pool.DATA else task_pb2.STORAGE_POOL_UNSPECIFIED


def pool_from_proto(value: int) -> Pool:
    return Pool.DATA if value == task_pb2.STORAGE_POOL_DATA else Pool.MODELS


def serving_from_proto(msg: task_pb2.ServingSpec) -> ServingSpec:
    return ServingSpec(model=msg.model, device=msg.device or "disk", port=msg.port,
                       framework=msg.framework or BUILT_IN_FRAMEWORK, config=json_format.MessageToDict(msg.config))  # fmt: skip


def serving_to_proto(spec: ServingSpec) -> task_pb2.ServingSpec:
    msg = task_pb2.ServingSpec(model=spec.model, device=spec.device, port=spec.port, framework=spec.framework)
    msg.config.update(spec.config)
    return msg

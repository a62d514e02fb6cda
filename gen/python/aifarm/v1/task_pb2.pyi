import datetime

from aifarm.v1 import node_pb2 as _node_pb2
from google.api import field_behavior_pb2 as _field_behavior_pb2
from google.api import resource_pb2 as _resource_pb2
from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class TaskState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TASK_STATE_UNSPECIFIED: _ClassVar[TaskState]
    TASK_STATE_PENDING: _ClassVar[TaskState]
    TASK_STATE_ASSIGNED: _ClassVar[TaskState]
    TASK_STATE_RUNNING: _ClassVar[TaskState]
    TASK_STATE_PAUSED: _ClassVar[TaskState]
    TASK_STATE_COMPLETED: _ClassVar[TaskState]
    TASK_STATE_FAILED: _ClassVar[TaskState]
    TASK_STATE_CANCELLED: _ClassVar[TaskState]

class TaskPriority(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TASK_PRIORITY_UNSPECIFIED: _ClassVar[TaskPriority]
    TASK_PRIORITY_LOW: _ClassVar[TaskPriority]
    TASK_PRIORITY_NORMAL: _ClassVar[TaskPriority]
    TASK_PRIORITY_HIGH: _ClassVar[TaskPriority]
    TASK_PRIORITY_CRITICAL: _ClassVar[TaskPriority]

class StoragePool(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    STORAGE_POOL_UNSPECIFIED: _ClassVar[StoragePool]
    STORAGE_POOL_MODELS: _ClassVar[StoragePool]
    STORAGE_POOL_DATA: _ClassVar[StoragePool]

class ModelOperation(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    MODEL_OPERATION_UNSPECIFIED: _ClassVar[ModelOperation]
    MODEL_OPERATION_DOWNLOAD: _ClassVar[ModelOperation]
    MODEL_OPERATION_MOVE: _ClassVar[ModelOperation]
    MODEL_OPERATION_COPY: _ClassVar[ModelOperation]
    MODEL_OPERATION_DELETE: _ClassVar[ModelOperation]

class LogStream(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    LOG_STREAM_UNSPECIFIED: _ClassVar[LogStream]
    LOG_STREAM_STDOUT: _ClassVar[LogStream]
    LOG_STREAM_STDERR: _ClassVar[LogStream]
    LOG_STREAM_SYSTEM: _ClassVar[LogStream]
TASK_STATE_UNSPECIFIED: TaskState
TASK_STATE_PENDING: TaskState
TASK_STATE_ASSIGNED: TaskState
TASK_STATE_RUNNING: TaskState
TASK_STATE_PAUSED: TaskState
TASK_STATE_COMPLETED: TaskState
TASK_STATE_FAILED: TaskState
TASK_STATE_CANCELLED: TaskState
TASK_PRIORITY_UNSPECIFIED: TaskPriority
TASK_PRIORITY_LOW: TaskPriority
TASK_PRIORITY_NORMAL: TaskPriority
TASK_PRIORITY_HIGH: TaskPriority
TASK_PRIORITY_CRITICAL: TaskPriority
STORAGE_POOL_UNSPECIFIED: StoragePool
STORAGE_POOL_MODELS: StoragePool
STORAGE_POOL_DATA: StoragePool
MODEL_OPERATION_UNSPECIFIED: ModelOperation
MODEL_OPERATION_DOWNLOAD: ModelOperation
MODEL_OPERATION_MOVE: ModelOperation
MODEL_OPERATION_COPY: ModelOperation
MODEL_OPERATION_DELETE: ModelOperation
LOG_STREAM_UNSPECIFIED: LogStream
LOG_STREAM_STDOUT: LogStream
LOG_STREAM_STDERR: LogStream
LOG_STREAM_SYSTEM: LogStream

class Task(_message.Message):
    __slots__ = ("name", "display_name", "script", "training", "command", "model_operation", "serving", "resources", "priority", "depends_on", "time_limit_seconds", "max_retries", "labels", "concurrency_group", "output_model", "world_size", "state", "state_reason", "attempt", "node", "progress", "metrics", "result", "artifacts", "ranks", "create_time", "start_time", "end_time", "update_time")
    class LabelsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    class MetricsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    NAME_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    SCRIPT_FIELD_NUMBER: _ClassVar[int]
    TRAINING_FIELD_NUMBER: _ClassVar[int]
    COMMAND_FIELD_NUMBER: _ClassVar[int]
    MODEL_OPERATION_FIELD_NUMBER: _ClassVar[int]
    SERVING_FIELD_NUMBER: _ClassVar[int]
    RESOURCES_FIELD_NUMBER: _ClassVar[int]
    PRIORITY_FIELD_NUMBER: _ClassVar[int]
    DEPENDS_ON_FIELD_NUMBER: _ClassVar[int]
    TIME_LIMIT_SECONDS_FIELD_NUMBER: _ClassVar[int]
    MAX_RETRIES_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    CONCURRENCY_GROUP_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_MODEL_FIELD_NUMBER: _ClassVar[int]
    WORLD_SIZE_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    STATE_REASON_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    NODE_FIELD_NUMBER: _ClassVar[int]
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    METRICS_FIELD_NUMBER: _ClassVar[int]
    RESULT_FIELD_NUMBER: _ClassVar[int]
    ARTIFACTS_FIELD_NUMBER: _ClassVar[int]
    RANKS_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    name: str
    display_name: str
    script: ScriptSpec
    training: TrainingSpec
    command: CommandSpec
    model_operation: ModelOperationSpec
    serving: ServingSpec
    resources: _node_pb2.Resources
    priority: TaskPriority
    depends_on: _containers.RepeatedScalarFieldContainer[str]
    time_limit_seconds: int
    max_retries: int
    labels: _containers.ScalarMap[str, str]
    concurrency_group: str
    output_model: str
    world_size: int
    state: TaskState
    state_reason: str
    attempt: int
    node: str
    progress: float
    metrics: _containers.ScalarMap[str, float]
    result: TaskResult
    artifacts: _containers.RepeatedCompositeFieldContainer[Artifact]
    ranks: _containers.RepeatedCompositeFieldContainer[TaskRank]
    create_time: _timestamp_pb2.Timestamp
    start_time: _timestamp_pb2.Timestamp
    end_time: _timestamp_pb2.Timestamp
    update_time: _timestamp_pb2.Timestamp
    def __init__(self, name: _Optional[str] = ..., display_name: _Optional[str] = ..., script: _Optional[_Union[ScriptSpec, _Mapping]] = ..., training: _Optional[_Union[TrainingSpec, _Mapping]] = ..., command: _Optional[_Union[CommandSpec, _Mapping]] = ..., model_operation: _Optional[_Union[ModelOperationSpec, _Mapping]] = ..., serving: _Optional[_Union[ServingSpec, _Mapping]] = ..., resources: _Optional[_Union[_node_pb2.Resources, _Mapping]] = ..., priority: _Optional[_Union[TaskPriority, str]] = ..., depends_on: _Optional[_Iterable[str]] = ..., time_limit_seconds: _Optional[int] = ..., max_retries: _Optional[int] = ..., labels: _Optional[_Mapping[str, str]] = ..., concurrency_group: _Optional[str] = ..., output_model: _Optional[str] = ..., world_size: _Optional[int] = ..., state: _Optional[_Union[TaskState, str]] = ..., state_reason: _Optional[str] = ..., attempt: _Optional[int] = ..., node: _Optional[str] = ..., progress: _Optional[float] = ..., metrics: _Optional[_Mapping[str, float]] = ..., result: _Optional[_Union[TaskResult, _Mapping]] = ..., artifacts: _Optional[_Iterable[_Union[Artifact, _Mapping]]] = ..., ranks: _Optional[_Iterable[_Union[TaskRank, _Mapping]]] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ScriptSpec(_message.Message):
    __slots__ = ("source", "entrypoint", "interpreter", "args", "env", "requirements")
    class EnvEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    ENTRYPOINT_FIELD_NUMBER: _ClassVar[int]
    INTERPRETER_FIELD_NUMBER: _ClassVar[int]
    ARGS_FIELD_NUMBER: _ClassVar[int]
    ENV_FIELD_NUMBER: _ClassVar[int]
    REQUIREMENTS_FIELD_NUMBER: _ClassVar[int]
    source: str
    entrypoint: str
    interpreter: str
    args: _containers.RepeatedScalarFieldContainer[str]
    env: _containers.ScalarMap[str, str]
    requirements: str
    def __init__(self, source: _Optional[str] = ..., entrypoint: _Optional[str] = ..., interpreter: _Optional[str] = ..., args: _Optional[_Iterable[str]] = ..., env: _Optional[_Mapping[str, str]] = ..., requirements: _Optional[str] = ...) -> None: ...

class ModelOperationSpec(_message.Message):
    __slots__ = ("operation", "model", "source_url", "source_device", "target_device", "keep_source", "verify_checksum", "sha256", "bandwidth_limit", "force", "pool")
    OPERATION_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    SOURCE_URL_FIELD_NUMBER: _ClassVar[int]
    SOURCE_DEVICE_FIELD_NUMBER: _ClassVar[int]
    TARGET_DEVICE_FIELD_NUMBER: _ClassVar[int]
    KEEP_SOURCE_FIELD_NUMBER: _ClassVar[int]
    VERIFY_CHECKSUM_FIELD_NUMBER: _ClassVar[int]
    SHA256_FIELD_NUMBER: _ClassVar[int]
    BANDWIDTH_LIMIT_FIELD_NUMBER: _ClassVar[int]
    FORCE_FIELD_NUMBER: _ClassVar[int]
    POOL_FIELD_NUMBER: _ClassVar[int]
    operation: ModelOperation
    model: str
    source_url: str
    source_device: str
    target_device: str
    keep_source: bool
    verify_checksum: bool
    sha256: str
    bandwidth_limit: float
    force: bool
    pool: StoragePool
    def __init__(self, operation: _Optional[_Union[ModelOperation, str]] = ..., model: _Optional[str] = ..., source_url: _Optional[str] = ..., source_device: _Optional[str] = ..., target_device: _Optional[str] = ..., keep_source: _Optional[bool] = ..., verify_checksum: _Optional[bool] = ..., sha256: _Optional[str] = ..., bandwidth_limit: _Optional[float] = ..., force: _Optional[bool] = ..., pool: _Optional[_Union[StoragePool, str]] = ...) -> None: ...

class ServingSpec(_message.Message):
    __slots__ = ("model", "device", "port", "framework", "config")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    DEVICE_FIELD_NUMBER: _ClassVar[int]
    PORT_FIELD_NUMBER: _ClassVar[int]
    FRAMEWORK_FIELD_NUMBER: _ClassVar[int]
    CONFIG_FIELD_NUMBER: _ClassVar[int]
    model: str
    device: str
    port: int
    framework: str
    config: _struct_pb2.Struct
    def __init__(self, model: _Optional[str] = ..., device: _Optional[str] = ..., port: _Optional[int] = ..., framework: _Optional[str] = ..., config: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ...) -> None: ...

class CommandSpec(_message.Message):
    __slots__ = ("argv", "env", "working_directory")
    class EnvEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    ARGV_FIELD_NUMBER: _ClassVar[int]
    ENV_FIELD_NUMBER: _ClassVar[int]
    WORKING_DIRECTORY_FIELD_NUMBER: _ClassVar[int]
    argv: _containers.RepeatedScalarFieldContainer[str]
    env: _containers.ScalarMap[str, str]
    working_directory: str
    def __init__(self, argv: _Optional[_Iterable[str]] = ..., env: _Optional[_Mapping[str, str]] = ..., working_directory: _Optional[str] = ...) -> None: ...

class TrainingSpec(_message.Message):
    __slots__ = ("architecture", "dataset", "synthetic", "epochs", "batch_size", "learning_rate", "optimizer", "loss_function", "validation_split", "seed", "device", "model_url", "model_version")
    ARCHITECTURE_FIELD_NUMBER: _ClassVar[int]
    DATASET_FIELD_NUMBER: _ClassVar[int]
    SYNTHETIC_FIELD_NUMBER: _ClassVar[int]
    EPOCHS_FIELD_NUMBER: _ClassVar[int]
    BATCH_SIZE_FIELD_NUMBER: _ClassVar[int]
    LEARNING_RATE_FIELD_NUMBER: _ClassVar[int]
    OPTIMIZER_FIELD_NUMBER: _ClassVar[int]
    LOSS_FUNCTION_FIELD_NUMBER: _ClassVar[int]
    VALIDATION_SPLIT_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    DEVICE_FIELD_NUMBER: _ClassVar[int]
    MODEL_URL_FIELD_NUMBER: _ClassVar[int]
    MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    architecture: str
    dataset: str
    synthetic: SyntheticDataset
    epochs: int
    batch_size: int
    learning_rate: float
    optimizer: str
    loss_function: str
    validation_split: float
    seed: int
    device: str
    model_url: str
    model_version: str
    def __init__(self, architecture: _Optional[str] = ..., dataset: _Optional[str] = ..., synthetic: _Optional[_Union[SyntheticDataset, _Mapping]] = ..., epochs: _Optional[int] = ..., batch_size: _Optional[int] = ..., learning_rate: _Optional[float] = ..., optimizer: _Optional[str] = ..., loss_function: _Optional[str] = ..., validation_split: _Optional[float] = ..., seed: _Optional[int] = ..., device: _Optional[str] = ..., model_url: _Optional[str] = ..., model_version: _Optional[str] = ...) -> None: ...

class SyntheticDataset(_message.Message):
    __slots__ = ("samples", "features", "classes", "image_size", "channels")
    SAMPLES_FIELD_NUMBER: _ClassVar[int]
    FEATURES_FIELD_NUMBER: _ClassVar[int]
    CLASSES_FIELD_NUMBER: _ClassVar[int]
    IMAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    CHANNELS_FIELD_NUMBER: _ClassVar[int]
    samples: int
    features: int
    classes: int
    image_size: int
    channels: int
    def __init__(self, samples: _Optional[int] = ..., features: _Optional[int] = ..., classes: _Optional[int] = ..., image_size: _Optional[int] = ..., channels: _Optional[int] = ...) -> None: ...

class TaskRank(_message.Message):
    __slots__ = ("rank", "node", "state", "progress", "metrics")
    class MetricsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    RANK_FIELD_NUMBER: _ClassVar[int]
    NODE_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    METRICS_FIELD_NUMBER: _ClassVar[int]
    rank: int
    node: str
    state: TaskState
    progress: float
    metrics: _containers.ScalarMap[str, float]
    def __init__(self, rank: _Optional[int] = ..., node: _Optional[str] = ..., state: _Optional[_Union[TaskState, str]] = ..., progress: _Optional[float] = ..., metrics: _Optional[_Mapping[str, float]] = ...) -> None: ...

class TaskResult(_message.Message):
    __slots__ = ("exit_code", "output_sha256", "error")
    EXIT_CODE_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_SHA256_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    exit_code: int
    output_sha256: str
    error: str
    def __init__(self, exit_code: _Optional[int] = ..., output_sha256: _Optional[str] = ..., error: _Optional[str] = ...) -> None: ...

class Artifact(_message.Message):
    __slots__ = ("name", "size_bytes", "sha256", "attempt")
    NAME_FIELD_NUMBER: _ClassVar[int]
    SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
    SHA256_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    name: str
    size_bytes: int
    sha256: str
    attempt: int
    def __init__(self, name: _Optional[str] = ..., size_bytes: _Optional[int] = ..., sha256: _Optional[str] = ..., attempt: _Optional[int] = ...) -> None: ...

class LogLine(_message.Message):
    __slots__ = ("seq", "attempt", "stream", "text", "time")
    SEQ_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    STREAM_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    TIME_FIELD_NUMBER: _ClassVar[int]
    seq: int
    attempt: int
    stream: LogStream
    text: str
    time: _timestamp_pb2.Timestamp
    def __init__(self, seq: _Optional[int] = ..., attempt: _Optional[int] = ..., stream: _Optional[_Union[LogStream, str]] = ..., text: _Optional[str] = ..., time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class MetricPoint(_message.Message):
    __slots__ = ("attempt", "epoch", "values", "time")
    class ValuesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    EPOCH_FIELD_NUMBER: _ClassVar[int]
    VALUES_FIELD_NUMBER: _ClassVar[int]
    TIME_FIELD_NUMBER: _ClassVar[int]
    attempt: int
    epoch: int
    values: _containers.ScalarMap[str, float]
    time: _timestamp_pb2.Timestamp
    def __init__(self, attempt: _Optional[int] = ..., epoch: _Optional[int] = ..., values: _Optional[_Mapping[str, float]] = ..., time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

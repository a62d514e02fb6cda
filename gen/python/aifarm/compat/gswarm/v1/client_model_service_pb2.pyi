from aifarm.compat.gswarm.v1 import host_model_service_pb2 as _host_model_service_pb2
from aifarm.options.v1 import error_options_pb2 as _error_options_pb2
from aifarm.options.v1 import http_options_pb2 as _http_options_pb2
from google.api import annotations_pb2 as _annotations_pb2
from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ListLocalModelsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class LocalModels(_message.Message):
    __slots__ = ("models",)
    MODELS_FIELD_NUMBER: _ClassVar[int]
    models: _containers.RepeatedCompositeFieldContainer[LocalModel]
    def __init__(self, models: _Optional[_Iterable[_Union[LocalModel, _Mapping]]] = ...) -> None: ...

class LocalModel(_message.Message):
    __slots__ = ("model_name", "device", "size", "sha256", "status")
    MODEL_NAME_FIELD_NUMBER: _ClassVar[int]
    DEVICE_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    SHA256_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    model_name: str
    device: str
    size: float
    sha256: str
    status: str
    def __init__(self, model_name: _Optional[str] = ..., device: _Optional[str] = ..., size: _Optional[float] = ..., sha256: _Optional[str] = ..., status: _Optional[str] = ...) -> None: ...

class DownloadModelRequest(_message.Message):
    __slots__ = ("model_name", "source_url", "target_device", "priority", "verify_checksum", "dependencies")
    MODEL_NAME_FIELD_NUMBER: _ClassVar[int]
    SOURCE_URL_FIELD_NUMBER: _ClassVar[int]
    TARGET_DEVICE_FIELD_NUMBER: _ClassVar[int]
    PRIORITY_FIELD_NUMBER: _ClassVar[int]
    VERIFY_CHECKSUM_FIELD_NUMBER: _ClassVar[int]
    DEPENDENCIES_FIELD_NUMBER: _ClassVar[int]
    model_name: str
    source_url: str
    target_device: str
    priority: str
    verify_checksum: bool
    dependencies: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, model_name: _Optional[str] = ..., source_url: _Optional[str] = ..., target_device: _Optional[str] = ..., priority: _Optional[str] = ..., verify_checksum: _Optional[bool] = ..., dependencies: _Optional[_Iterable[str]] = ...) -> None: ...

class MoveModelRequest(_message.Message):
    __slots__ = ("model_name", "source_device", "target_device", "keep_source", "priority", "compression", "verify_checksum", "dependencies")
    MODEL_NAME_FIELD_NUMBER: _ClassVar[int]
    SOURCE_DEVICE_FIELD_NUMBER: _ClassVar[int]
    TARGET_DEVICE_FIELD_NUMBER: _ClassVar[int]
    KEEP_SOURCE_FIELD_NUMBER: _ClassVar[int]
    PRIORITY_FIELD_NUMBER: _ClassVar[int]
    COMPRESSION_FIELD_NUMBER: _ClassVar[int]
    VERIFY_CHECKSUM_FIELD_NUMBER: _ClassVar[int]
    DEPENDENCIES_FIELD_NUMBER: _ClassVar[int]
    model_name: str
    source_device: str
    target_device: str
    keep_source: bool
    priority: str
    compression: str
    verify_checksum: bool
    dependencies: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, model_name: _Optional[str] = ..., source_device: _Optional[str] = ..., target_device: _Optional[str] = ..., keep_source: _Optional[bool] = ..., priority: _Optional[str] = ..., compression: _Optional[str] = ..., verify_checksum: _Optional[bool] = ..., dependencies: _Optional[_Iterable[str]] = ...) -> None: ...

class CopyModelRequest(_message.Message):
    __slots__ = ("model_name", "source_device", "target_device", "priority", "bandwidth_limit", "verify_checksum", "dependencies")
    MODEL_NAME_FIELD_NUMBER: _ClassVar[int]
    SOURCE_DEVICE_FIELD_NUMBER: _ClassVar[int]
    TARGET_DEVICE_FIELD_NUMBER: _ClassVar[int]
    PRIORITY_FIELD_NUMBER: _ClassVar[int]
    BANDWIDTH_LIMIT_FIELD_NUMBER: _ClassVar[int]
    VERIFY_CHECKSUM_FIELD_NUMBER: _ClassVar[int]
    DEPENDENCIES_FIELD_NUMBER: _ClassVar[int]
    model_name: str
    source_device: str
    target_device: str
    priority: str
    bandwidth_limit: float
    verify_checksum: bool
    dependencies: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, model_name: _Optional[str] = ..., source_device: _Optional[str] = ..., target_device: _Optional[str] = ..., priority: _Optional[str] = ..., bandwidth_limit: _Optional[float] = ..., verify_checksum: _Optional[bool] = ..., dependencies: _Optional[_Iterable[str]] = ...) -> None: ...

class DeleteLocalModelRequest(_message.Message):
    __slots__ = ("model_name", "device", "force")
    MODEL_NAME_FIELD_NUMBER: _ClassVar[int]
    DEVICE_FIELD_NUMBER: _ClassVar[int]
    FORCE_FIELD_NUMBER: _ClassVar[int]
    model_name: str
    device: str
    force: bool
    def __init__(self, model_name: _Optional[str] = ..., device: _Optional[str] = ..., force: _Optional[bool] = ...) -> None: ...

class QueuedOperation(_message.Message):
    __slots__ = ("task_id", "status", "position", "estimated_time")
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    POSITION_FIELD_NUMBER: _ClassVar[int]
    ESTIMATED_TIME_FIELD_NUMBER: _ClassVar[int]
    task_id: str
    status: str
    position: int
    estimated_time: float
    def __init__(self, task_id: _Optional[str] = ..., status: _Optional[str] = ..., position: _Optional[int] = ..., estimated_time: _Optional[float] = ...) -> None: ...

class GetResourcesRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class NodeResources(_message.Message):
    __slots__ = ("storage", "compute")
    class StorageEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: StorageFigures
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[StorageFigures, _Mapping]] = ...) -> None: ...
    STORAGE_FIELD_NUMBER: _ClassVar[int]
    COMPUTE_FIELD_NUMBER: _ClassVar[int]
    storage: _containers.MessageMap[str, StorageFigures]
    compute: _struct_pb2.Struct
    def __init__(self, storage: _Optional[_Mapping[str, StorageFigures]] = ..., compute: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ...) -> None: ...

class StorageFigures(_message.Message):
    __slots__ = ("total", "used", "available")
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    USED_FIELD_NUMBER: _ClassVar[int]
    AVAILABLE_FIELD_NUMBER: _ClassVar[int]
    total: float
    used: float
    available: float
    def __init__(self, total: _Optional[float] = ..., used: _Optional[float] = ..., available: _Optional[float] = ...) -> None: ...

class StartServiceRequest(_message.Message):
    __slots__ = ("model_name", "device", "port", "config")
    MODEL_NAME_FIELD_NUMBER: _ClassVar[int]
    DEVICE_FIELD_NUMBER: _ClassVar[int]
    PORT_FIELD_NUMBER: _ClassVar[int]
    CONFIG_FIELD_NUMBER: _ClassVar[int]
    model_name: str
    device: str
    port: int
    config: _struct_pb2.Struct
    def __init__(self, model_name: _Optional[str] = ..., device: _Optional[str] = ..., port: _Optional[int] = ..., config: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ...) -> None: ...

class StopServiceRequest(_message.Message):
    __slots__ = ("service_id",)
    SERVICE_ID_FIELD_NUMBER: _ClassVar[int]
    service_id: str
    def __init__(self, service_id: _Optional[str] = ...) -> None: ...

class GetServiceStatusRequest(_message.Message):
    __slots__ = ("service_id",)
    SERVICE_ID_FIELD_NUMBER: _ClassVar[int]
    service_id: str
    def __init__(self, service_id: _Optional[str] = ...) -> None: ...

class ServiceStatus(_message.Message):
    __slots__ = ("service_id", "model_name", "node", "device", "port", "status", "url", "framework", "requests", "errors", "latency_ms", "error")
    class LatencyMsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    SERVICE_ID_FIELD_NUMBER: _ClassVar[int]
    MODEL_NAME_FIELD_NUMBER: _ClassVar[int]
    NODE_FIELD_NUMBER: _ClassVar[int]
    DEVICE_FIELD_NUMBER: _ClassVar[int]
    PORT_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    URL_FIELD_NUMBER: _ClassVar[int]
    FRAMEWORK_FIELD_NUMBER: _ClassVar[int]
    REQUESTS_FIELD_NUMBER: _ClassVar[int]
    ERRORS_FIELD_NUMBER: _ClassVar[int]
    LATENCY_MS_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    service_id: str
    model_name: str
    node: str
    device: str
    port: int
    status: str
    url: str
    framework: str
    requests: float
    errors: float
    latency_ms: _containers.ScalarMap[str, float]
    error: str
    def __init__(self, service_id: _Optional[str] = ..., model_name: _Optional[str] = ..., node: _Optional[str] = ..., device: _Optional[str] = ..., port: _Optional[int] = ..., status: _Optional[str] = ..., url: _Optional[str] = ..., framework: _Optional[str] = ..., requests: _Optional[float] = ..., errors: _Optional[float] = ..., latency_ms: _Optional[_Mapping[str, float]] = ..., error: _Optional[str] = ...) -> None: ...

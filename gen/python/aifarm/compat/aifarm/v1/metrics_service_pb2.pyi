from aifarm.options.v1 import error_options_pb2 as _error_options_pb2
from aifarm.options.v1 import http_options_pb2 as _http_options_pb2
from google.api import annotations_pb2 as _annotations_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class GetSystemMetricsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class SystemMetrics(_message.Message):
    __slots__ = ("clients", "tasks", "resources", "timestamp")
    CLIENTS_FIELD_NUMBER: _ClassVar[int]
    TASKS_FIELD_NUMBER: _ClassVar[int]
    RESOURCES_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    clients: ClientCounts
    tasks: TaskCounts
    resources: ResourceUsage
    timestamp: str
    def __init__(self, clients: _Optional[_Union[ClientCounts, _Mapping]] = ..., tasks: _Optional[_Union[TaskCounts, _Mapping]] = ..., resources: _Optional[_Union[ResourceUsage, _Mapping]] = ..., timestamp: _Optional[str] = ...) -> None: ...

class ClientCounts(_message.Message):
    __slots__ = ("total", "active")
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    ACTIVE_FIELD_NUMBER: _ClassVar[int]
    total: int
    active: int
    def __init__(self, total: _Optional[int] = ..., active: _Optional[int] = ...) -> None: ...

class TaskCounts(_message.Message):
    __slots__ = ("total", "running", "completed", "failed")
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    RUNNING_FIELD_NUMBER: _ClassVar[int]
    COMPLETED_FIELD_NUMBER: _ClassVar[int]
    FAILED_FIELD_NUMBER: _ClassVar[int]
    total: int
    running: int
    completed: int
    failed: int
    def __init__(self, total: _Optional[int] = ..., running: _Optional[int] = ..., completed: _Optional[int] = ..., failed: _Optional[int] = ...) -> None: ...

class ResourceUsage(_message.Message):
    __slots__ = ("cpu_usage", "ram_usage", "gpu_usage")
    CPU_USAGE_FIELD_NUMBER: _ClassVar[int]
    RAM_USAGE_FIELD_NUMBER: _ClassVar[int]
    GPU_USAGE_FIELD_NUMBER: _ClassVar[int]
    cpu_usage: float
    ram_usage: float
    gpu_usage: float
    def __init__(self, cpu_usage: _Optional[float] = ..., ram_usage: _Optional[float] = ..., gpu_usage: _Optional[float] = ...) -> None: ...

class GetTaskMetricsRequest(_message.Message):
    __slots__ = ("task_id",)
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    task_id: str
    def __init__(self, task_id: _Optional[str] = ...) -> None: ...

class TaskMetrics(_message.Message):
    __slots__ = ("progress", "metrics", "resources", "timestamp")
    class MetricsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    METRICS_FIELD_NUMBER: _ClassVar[int]
    RESOURCES_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    progress: float
    metrics: _containers.ScalarMap[str, float]
    resources: ResourceUsage
    timestamp: str
    def __init__(self, progress: _Optional[float] = ..., metrics: _Optional[_Mapping[str, float]] = ..., resources: _Optional[_Union[ResourceUsage, _Mapping]] = ..., timestamp: _Optional[str] = ...) -> None: ...

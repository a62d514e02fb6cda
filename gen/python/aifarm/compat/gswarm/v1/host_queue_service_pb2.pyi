from aifarm.compat.gswarm.v1 import host_model_service_pb2 as _host_model_service_pb2
from aifarm.options.v1 import error_options_pb2 as _error_options_pb2
from aifarm.options.v1 import http_options_pb2 as _http_options_pb2
from google.api import annotations_pb2 as _annotations_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class GetQueueRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class QueueStatus(_message.Message):
    __slots__ = ("pending", "running", "completed", "config")
    PENDING_FIELD_NUMBER: _ClassVar[int]
    RUNNING_FIELD_NUMBER: _ClassVar[int]
    COMPLETED_FIELD_NUMBER: _ClassVar[int]
    CONFIG_FIELD_NUMBER: _ClassVar[int]
    pending: int
    running: int
    completed: int
    config: QueueConfig
    def __init__(self, pending: _Optional[int] = ..., running: _Optional[int] = ..., completed: _Optional[int] = ..., config: _Optional[_Union[QueueConfig, _Mapping]] = ...) -> None: ...

class QueueConfig(_message.Message):
    __slots__ = ("max_concurrent_tasks", "priority_levels", "resource_tracking")
    MAX_CONCURRENT_TASKS_FIELD_NUMBER: _ClassVar[int]
    PRIORITY_LEVELS_FIELD_NUMBER: _ClassVar[int]
    RESOURCE_TRACKING_FIELD_NUMBER: _ClassVar[int]
    max_concurrent_tasks: int
    priority_levels: _containers.RepeatedScalarFieldContainer[str]
    resource_tracking: bool
    def __init__(self, max_concurrent_tasks: _Optional[int] = ..., priority_levels: _Optional[_Iterable[str]] = ..., resource_tracking: _Optional[bool] = ...) -> None: ...

class ListQueueTasksRequest(_message.Message):
    __slots__ = ("status", "limit")
    STATUS_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    status: str
    limit: int
    def __init__(self, status: _Optional[str] = ..., limit: _Optional[int] = ...) -> None: ...

class QueueTasks(_message.Message):
    __slots__ = ("tasks",)
    TASKS_FIELD_NUMBER: _ClassVar[int]
    tasks: _containers.RepeatedCompositeFieldContainer[QueueTask]
    def __init__(self, tasks: _Optional[_Iterable[_Union[QueueTask, _Mapping]]] = ...) -> None: ...

class QueueTask(_message.Message):
    __slots__ = ("task_id", "task_type", "priority", "status", "dependencies", "resources", "created_at", "started_at", "completed_at", "progress", "error", "error_code")
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    TASK_TYPE_FIELD_NUMBER: _ClassVar[int]
    PRIORITY_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    DEPENDENCIES_FIELD_NUMBER: _ClassVar[int]
    RESOURCES_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    STARTED_AT_FIELD_NUMBER: _ClassVar[int]
    COMPLETED_AT_FIELD_NUMBER: _ClassVar[int]
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    ERROR_CODE_FIELD_NUMBER: _ClassVar[int]
    task_id: str
    task_type: str
    priority: str
    status: str
    dependencies: _containers.RepeatedScalarFieldContainer[str]
    resources: QueueTaskResources
    created_at: float
    started_at: float
    completed_at: float
    progress: float
    error: str
    error_code: str
    def __init__(self, task_id: _Optional[str] = ..., task_type: _Optional[str] = ..., priority: _Optional[str] = ..., status: _Optional[str] = ..., dependencies: _Optional[_Iterable[str]] = ..., resources: _Optional[_Union[QueueTaskResources, _Mapping]] = ..., created_at: _Optional[float] = ..., started_at: _Optional[float] = ..., completed_at: _Optional[float] = ..., progress: _Optional[float] = ..., error: _Optional[str] = ..., error_code: _Optional[str] = ...) -> None: ...

class QueueTaskResources(_message.Message):
    __slots__ = ("devices", "models")
    DEVICES_FIELD_NUMBER: _ClassVar[int]
    MODELS_FIELD_NUMBER: _ClassVar[int]
    devices: _containers.RepeatedScalarFieldContainer[str]
    models: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, devices: _Optional[_Iterable[str]] = ..., models: _Optional[_Iterable[str]] = ...) -> None: ...

class GetQueueTaskRequest(_message.Message):
    __slots__ = ("task_id",)
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    task_id: str
    def __init__(self, task_id: _Optional[str] = ...) -> None: ...

class CancelQueueTaskRequest(_message.Message):
    __slots__ = ("task_id",)
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    task_id: str
    def __init__(self, task_id: _Optional[str] = ...) -> None: ...

class GetQueueHistoryRequest(_message.Message):
    __slots__ = ("limit", "since", "status")
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    SINCE_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    limit: int
    since: str
    status: str
    def __init__(self, limit: _Optional[int] = ..., since: _Optional[str] = ..., status: _Optional[str] = ...) -> None: ...

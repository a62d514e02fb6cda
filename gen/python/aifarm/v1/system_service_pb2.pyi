from aifarm.options.v1 import auth_options_pb2 as _auth_options_pb2
from aifarm.v1 import task_pb2 as _task_pb2
from google.api import annotations_pb2 as _annotations_pb2
from google.api import httpbody_pb2 as _httpbody_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class GetPrometheusMetricsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class RotateJoinTokenRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class RotateJoinTokenResponse(_message.Message):
    __slots__ = ("join_token",)
    JOIN_TOKEN_FIELD_NUMBER: _ClassVar[int]
    join_token: str
    def __init__(self, join_token: _Optional[str] = ...) -> None: ...

class GetHealthRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class Health(_message.Message):
    __slots__ = ("status", "version", "nodes_online", "tasks", "uptime_seconds")
    STATUS_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    NODES_ONLINE_FIELD_NUMBER: _ClassVar[int]
    TASKS_FIELD_NUMBER: _ClassVar[int]
    UPTIME_SECONDS_FIELD_NUMBER: _ClassVar[int]
    status: str
    version: str
    nodes_online: int
    tasks: _containers.RepeatedCompositeFieldContainer[TaskStateCount]
    uptime_seconds: float
    def __init__(self, status: _Optional[str] = ..., version: _Optional[str] = ..., nodes_online: _Optional[int] = ..., tasks: _Optional[_Iterable[_Union[TaskStateCount, _Mapping]]] = ..., uptime_seconds: _Optional[float] = ...) -> None: ...

class TaskStateCount(_message.Message):
    __slots__ = ("state", "count")
    STATE_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    state: _task_pb2.TaskState
    count: int
    def __init__(self, state: _Optional[_Union[_task_pb2.TaskState, str]] = ..., count: _Optional[int] = ...) -> None: ...

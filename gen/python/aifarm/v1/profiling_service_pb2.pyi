from aifarm.options.v1 import http_options_pb2 as _http_options_pb2
from aifarm.v1 import profiling_pb2 as _profiling_pb2
from google.api import annotations_pb2 as _annotations_pb2
from google.api import field_behavior_pb2 as _field_behavior_pb2
from google.api import httpbody_pb2 as _httpbody_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class CreateProfilingSessionRequest(_message.Message):
    __slots__ = ("profiling_session", "profiling_session_id")
    PROFILING_SESSION_FIELD_NUMBER: _ClassVar[int]
    PROFILING_SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    profiling_session: _profiling_pb2.ProfilingSession
    profiling_session_id: str
    def __init__(self, profiling_session: _Optional[_Union[_profiling_pb2.ProfilingSession, _Mapping]] = ..., profiling_session_id: _Optional[str] = ...) -> None: ...

class GetProfilingSessionRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class ListProfilingSessionsRequest(_message.Message):
    __slots__ = ("active_only",)
    ACTIVE_ONLY_FIELD_NUMBER: _ClassVar[int]
    active_only: bool
    def __init__(self, active_only: _Optional[bool] = ...) -> None: ...

class ListProfilingSessionsResponse(_message.Message):
    __slots__ = ("profiling_sessions",)
    PROFILING_SESSIONS_FIELD_NUMBER: _ClassVar[int]
    profiling_sessions: _containers.RepeatedCompositeFieldContainer[_profiling_pb2.ProfilingSession]
    def __init__(self, profiling_sessions: _Optional[_Iterable[_Union[_profiling_pb2.ProfilingSession, _Mapping]]] = ...) -> None: ...

class StopProfilingSessionRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class GetProfilingReportRequest(_message.Message):
    __slots__ = ("name", "format")
    NAME_FIELD_NUMBER: _ClassVar[int]
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    name: str
    format: str
    def __init__(self, name: _Optional[str] = ..., format: _Optional[str] = ...) -> None: ...

class ListProfilingFramesRequest(_message.Message):
    __slots__ = ("parent", "page_size", "page_token")
    PARENT_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    parent: str
    page_size: int
    page_token: str
    def __init__(self, parent: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListProfilingFramesResponse(_message.Message):
    __slots__ = ("frames", "next_page_token")
    FRAMES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    frames: _containers.RepeatedCompositeFieldContainer[_profiling_pb2.ProfilingFrame]
    next_page_token: str
    def __init__(self, frames: _Optional[_Iterable[_Union[_profiling_pb2.ProfilingFrame, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

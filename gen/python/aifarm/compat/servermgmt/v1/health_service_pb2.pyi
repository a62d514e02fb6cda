from aifarm.options.v1 import error_options_pb2 as _error_options_pb2
from aifarm.options.v1 import auth_options_pb2 as _auth_options_pb2
from google.api import annotations_pb2 as _annotations_pb2
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Optional as _Optional

DESCRIPTOR: _descriptor.FileDescriptor

class GetHealthRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetHealthResponse(_message.Message):
    __slots__ = ("status", "service", "version")
    STATUS_FIELD_NUMBER: _ClassVar[int]
    SERVICE_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    status: str
    service: str
    version: str
    def __init__(self, status: _Optional[str] = ..., service: _Optional[str] = ..., version: _Optional[str] = ...) -> None: ...

class GetRootRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetRootResponse(_message.Message):
    __slots__ = ("message", "version", "docs", "redoc")
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    DOCS_FIELD_NUMBER: _ClassVar[int]
    REDOC_FIELD_NUMBER: _ClassVar[int]
    message: str
    version: str
    docs: str
    redoc: str
    def __init__(self, message: _Optional[str] = ..., version: _Optional[str] = ..., docs: _Optional[str] = ..., redoc: _Optional[str] = ...) -> None: ...

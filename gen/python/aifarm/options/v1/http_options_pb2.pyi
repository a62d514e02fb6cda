from google.protobuf import descriptor_pb2 as _descriptor_pb2
from google.rpc import code_pb2 as _code_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor
HTTP_RESPONSE_FIELD_NUMBER: _ClassVar[int]
http_response: _descriptor.FieldDescriptor
HTTP_SERVICE_FIELD_NUMBER: _ClassVar[int]
http_service: _descriptor.FieldDescriptor

class HttpResponseOptions(_message.Message):
    __slots__ = ("success_code", "error_statuses")
    SUCCESS_CODE_FIELD_NUMBER: _ClassVar[int]
    ERROR_STATUSES_FIELD_NUMBER: _ClassVar[int]
    success_code: int
    error_statuses: _containers.RepeatedCompositeFieldContainer[ErrorStatus]
    def __init__(self, success_code: _Optional[int] = ..., error_statuses: _Optional[_Iterable[_Union[ErrorStatus, _Mapping]]] = ...) -> None: ...

class ErrorStatus(_message.Message):
    __slots__ = ("code", "http_status")
    CODE_FIELD_NUMBER: _ClassVar[int]
    HTTP_STATUS_FIELD_NUMBER: _ClassVar[int]
    code: _code_pb2.Code
    http_status: int
    def __init__(self, code: _Optional[_Union[_code_pb2.Code, str]] = ..., http_status: _Optional[int] = ...) -> None: ...

class HttpServiceOptions(_message.Message):
    __slots__ = ("response_headers", "rate_limit_per_minute")
    RESPONSE_HEADERS_FIELD_NUMBER: _ClassVar[int]
    RATE_LIMIT_PER_MINUTE_FIELD_NUMBER: _ClassVar[int]
    response_headers: _containers.RepeatedCompositeFieldContainer[ResponseHeader]
    rate_limit_per_minute: int
    def __init__(self, response_headers: _Optional[_Iterable[_Union[ResponseHeader, _Mapping]]] = ..., rate_limit_per_minute: _Optional[int] = ...) -> None: ...

class ResponseHeader(_message.Message):
    __slots__ = ("name", "value")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    name: str
    value: str
    def __init__(self, name: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...

from google.protobuf import descriptor_pb2 as _descriptor_pb2
from google.rpc import code_pb2 as _code_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ErrorBodyShape(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ERROR_BODY_SHAPE_UNSPECIFIED: _ClassVar[ErrorBodyShape]
    ERROR_BODY_SHAPE_GOOGLE_RPC_STATUS: _ClassVar[ErrorBodyShape]
    ERROR_BODY_SHAPE_DETAIL: _ClassVar[ErrorBodyShape]
    ERROR_BODY_SHAPE_ERROR_OBJECT: _ClassVar[ErrorBodyShape]
    ERROR_BODY_SHAPE_SUCCESS_ENVELOPE: _ClassVar[ErrorBodyShape]
ERROR_BODY_SHAPE_UNSPECIFIED: ErrorBodyShape
ERROR_BODY_SHAPE_GOOGLE_RPC_STATUS: ErrorBodyShape
ERROR_BODY_SHAPE_DETAIL: ErrorBodyShape
ERROR_BODY_SHAPE_ERROR_OBJECT: ErrorBodyShape
ERROR_BODY_SHAPE_SUCCESS_ENVELOPE: ErrorBodyShape
ERROR_BODY_FIELD_NUMBER: _ClassVar[int]
error_body: _descriptor.FieldDescriptor

class ErrorBodyOptions(_message.Message):
    __slots__ = ("shape", "codes", "default_code", "reason_codes", "path_prefixes")
    SHAPE_FIELD_NUMBER: _ClassVar[int]
    CODES_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_CODE_FIELD_NUMBER: _ClassVar[int]
    REASON_CODES_FIELD_NUMBER: _ClassVar[int]
    PATH_PREFIXES_FIELD_NUMBER: _ClassVar[int]
    shape: ErrorBodyShape
    codes: _containers.RepeatedCompositeFieldContainer[ErrorCodeName]
    default_code: str
    reason_codes: _containers.RepeatedScalarFieldContainer[str]
    path_prefixes: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, shape: _Optional[_Union[ErrorBodyShape, str]] = ..., codes: _Optional[_Iterable[_Union[ErrorCodeName, _Mapping]]] = ..., default_code: _Optional[str] = ..., reason_codes: _Optional[_Iterable[str]] = ..., path_prefixes: _Optional[_Iterable[str]] = ...) -> None: ...

class ErrorCodeName(_message.Message):
    __slots__ = ("code", "name")
    CODE_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    code: _code_pb2.Code
    name: str
    def __init__(self, code: _Optional[_Union[_code_pb2.Code, str]] = ..., name: _Optional[str] = ...) -> None: ...

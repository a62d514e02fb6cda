from aifarm.options.v1 import error_options_pb2 as _error_options_pb2
from aifarm.options.v1 import http_options_pb2 as _http_options_pb2
from google.api import annotations_pb2 as _annotations_pb2
from google.api import httpbody_pb2 as _httpbody_pb2
from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class DatasetInfo(_message.Message):
    __slots__ = ("name", "size_mb", "sample_count", "format", "dimensions", "created_at", "file_path")
    NAME_FIELD_NUMBER: _ClassVar[int]
    SIZE_MB_FIELD_NUMBER: _ClassVar[int]
    SAMPLE_COUNT_FIELD_NUMBER: _ClassVar[int]
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    DIMENSIONS_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    FILE_PATH_FIELD_NUMBER: _ClassVar[int]
    name: str
    size_mb: float
    sample_count: int
    format: str
    dimensions: str
    created_at: str
    file_path: str
    def __init__(self, name: _Optional[str] = ..., size_mb: _Optional[float] = ..., sample_count: _Optional[int] = ..., format: _Optional[str] = ..., dimensions: _Optional[str] = ..., created_at: _Optional[str] = ..., file_path: _Optional[str] = ...) -> None: ...

class ListDatasetsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetDatasetRequest(_message.Message):
    __slots__ = ("dataset_name",)
    DATASET_NAME_FIELD_NUMBER: _ClassVar[int]
    dataset_name: str
    def __init__(self, dataset_name: _Optional[str] = ...) -> None: ...

class UploadDatasetRequest(_message.Message):
    __slots__ = ("dataset_name", "file")
    DATASET_NAME_FIELD_NUMBER: _ClassVar[int]
    FILE_FIELD_NUMBER: _ClassVar[int]
    dataset_name: str
    file: _httpbody_pb2.HttpBody
    def __init__(self, dataset_name: _Optional[str] = ..., file: _Optional[_Union[_httpbody_pb2.HttpBody, _Mapping]] = ...) -> None: ...

class UploadDatasetResponse(_message.Message):
    __slots__ = ("message", "name", "size_mb")
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    SIZE_MB_FIELD_NUMBER: _ClassVar[int]
    message: str
    name: str
    size_mb: float
    def __init__(self, message: _Optional[str] = ..., name: _Optional[str] = ..., size_mb: _Optional[float] = ...) -> None: ...

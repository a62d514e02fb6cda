from aifarm.options.v1 import error_options_pb2 as _error_options_pb2
from google.api import annotations_pb2 as _annotations_pb2
from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class GetSystemInfoRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class SystemInfo(_message.Message):
    __slots__ = ("cpu_usage_percent", "memory_used_mb", "memory_total_mb", "memory_percent", "disk_free_gb", "disk_total_gb", "gpu_available", "gpu_usage_percent", "gpu_memory_used_mb", "gpu_memory_total_mb", "timestamp")
    CPU_USAGE_PERCENT_FIELD_NUMBER: _ClassVar[int]
    MEMORY_USED_MB_FIELD_NUMBER: _ClassVar[int]
    MEMORY_TOTAL_MB_FIELD_NUMBER: _ClassVar[int]
    MEMORY_PERCENT_FIELD_NUMBER: _ClassVar[int]
    DISK_FREE_GB_FIELD_NUMBER: _ClassVar[int]
    DISK_TOTAL_GB_FIELD_NUMBER: _ClassVar[int]
    GPU_AVAILABLE_FIELD_NUMBER: _ClassVar[int]
    GPU_USAGE_PERCENT_FIELD_NUMBER: _ClassVar[int]
    GPU_MEMORY_USED_MB_FIELD_NUMBER: _ClassVar[int]
    GPU_MEMORY_TOTAL_MB_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    cpu_usage_percent: float
    memory_used_mb: int
    memory_total_mb: int
    memory_percent: float
    disk_free_gb: float
    disk_total_gb: float
    gpu_available: bool
    gpu_usage_percent: _struct_pb2.Value
    gpu_memory_used_mb: _struct_pb2.Value
    gpu_memory_total_mb: _struct_pb2.Value
    timestamp: str
    def __init__(self, cpu_usage_percent: _Optional[float] = ..., memory_used_mb: _Optional[int] = ..., memory_total_mb: _Optional[int] = ..., memory_percent: _Optional[float] = ..., disk_free_gb: _Optional[float] = ..., disk_total_gb: _Optional[float] = ..., gpu_available: _Optional[bool] = ..., gpu_usage_percent: _Optional[_Union[_struct_pb2.Value, _Mapping]] = ..., gpu_memory_used_mb: _Optional[_Union[_struct_pb2.Value, _Mapping]] = ..., gpu_memory_total_mb: _Optional[_Union[_struct_pb2.Value, _Mapping]] = ..., timestamp: _Optional[str] = ...) -> None: ...

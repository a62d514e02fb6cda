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

class DataChunk(_message.Message):
    __slots__ = ("chunk_id", "chunk_type", "size", "format", "locations", "metadata", "references")
    CHUNK_ID_FIELD_NUMBER: _ClassVar[int]
    CHUNK_TYPE_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    LOCATIONS_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    REFERENCES_FIELD_NUMBER: _ClassVar[int]
    chunk_id: str
    chunk_type: str
    size: float
    format: str
    locations: _containers.RepeatedCompositeFieldContainer[_host_model_service_pb2.ModelLocation]
    metadata: _struct_pb2.Struct
    references: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, chunk_id: _Optional[str] = ..., chunk_type: _Optional[str] = ..., size: _Optional[float] = ..., format: _Optional[str] = ..., locations: _Optional[_Iterable[_Union[_host_model_service_pb2.ModelLocation, _Mapping]]] = ..., metadata: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., references: _Optional[_Iterable[str]] = ...) -> None: ...

class ListDataChunksRequest(_message.Message):
    __slots__ = ("device", "type")
    DEVICE_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    device: str
    type: str
    def __init__(self, device: _Optional[str] = ..., type: _Optional[str] = ...) -> None: ...

class DataChunks(_message.Message):
    __slots__ = ("chunks",)
    CHUNKS_FIELD_NUMBER: _ClassVar[int]
    chunks: _containers.RepeatedCompositeFieldContainer[DataChunk]
    def __init__(self, chunks: _Optional[_Iterable[_Union[DataChunk, _Mapping]]] = ...) -> None: ...

class CreateDataChunkRequest(_message.Message):
    __slots__ = ("data", "type", "format", "device", "metadata", "source")
    DATA_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    DEVICE_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    data: str
    type: str
    format: str
    device: str
    metadata: _struct_pb2.Struct
    source: str
    def __init__(self, data: _Optional[str] = ..., type: _Optional[str] = ..., format: _Optional[str] = ..., device: _Optional[str] = ..., metadata: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., source: _Optional[str] = ...) -> None: ...

class CreatedDataChunk(_message.Message):
    __slots__ = ("success", "message", "chunk_id", "size", "task_id", "chunk")
    SUCCESS_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    CHUNK_ID_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    CHUNK_FIELD_NUMBER: _ClassVar[int]
    success: bool
    message: str
    chunk_id: str
    size: float
    task_id: str
    chunk: DataChunk
    def __init__(self, success: _Optional[bool] = ..., message: _Optional[str] = ..., chunk_id: _Optional[str] = ..., size: _Optional[float] = ..., task_id: _Optional[str] = ..., chunk: _Optional[_Union[DataChunk, _Mapping]] = ...) -> None: ...

class GetDataChunkRequest(_message.Message):
    __slots__ = ("chunk_id",)
    CHUNK_ID_FIELD_NUMBER: _ClassVar[int]
    chunk_id: str
    def __init__(self, chunk_id: _Optional[str] = ...) -> None: ...

class MoveDataChunkRequest(_message.Message):
    __slots__ = ("chunk_id", "target_device", "priority", "node", "source_device")
    CHUNK_ID_FIELD_NUMBER: _ClassVar[int]
    TARGET_DEVICE_FIELD_NUMBER: _ClassVar[int]
    PRIORITY_FIELD_NUMBER: _ClassVar[int]
    NODE_FIELD_NUMBER: _ClassVar[int]
    SOURCE_DEVICE_FIELD_NUMBER: _ClassVar[int]
    chunk_id: str
    target_device: str
    priority: str
    node: str
    source_device: str
    def __init__(self, chunk_id: _Optional[str] = ..., target_device: _Optional[str] = ..., priority: _Optional[str] = ..., node: _Optional[str] = ..., source_device: _Optional[str] = ...) -> None: ...

class TransferDataChunkRequest(_message.Message):
    __slots__ = ("chunk_id", "target_node", "target_device", "delete_source", "priority", "source")
    CHUNK_ID_FIELD_NUMBER: _ClassVar[int]
    TARGET_NODE_FIELD_NUMBER: _ClassVar[int]
    TARGET_DEVICE_FIELD_NUMBER: _ClassVar[int]
    DELETE_SOURCE_FIELD_NUMBER: _ClassVar[int]
    PRIORITY_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    chunk_id: str
    target_node: str
    target_device: str
    delete_source: bool
    priority: str
    source: str
    def __init__(self, chunk_id: _Optional[str] = ..., target_node: _Optional[str] = ..., target_device: _Optional[str] = ..., delete_source: _Optional[bool] = ..., priority: _Optional[str] = ..., source: _Optional[str] = ...) -> None: ...

class QueuedDataOperation(_message.Message):
    __slots__ = ("success", "message", "task_id", "chunk_id", "target")
    SUCCESS_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    CHUNK_ID_FIELD_NUMBER: _ClassVar[int]
    TARGET_FIELD_NUMBER: _ClassVar[int]
    success: bool
    message: str
    task_id: str
    chunk_id: str
    target: str
    def __init__(self, success: _Optional[bool] = ..., message: _Optional[str] = ..., task_id: _Optional[str] = ..., chunk_id: _Optional[str] = ..., target: _Optional[str] = ...) -> None: ...

class DeleteDataChunkRequest(_message.Message):
    __slots__ = ("chunk_id", "force")
    CHUNK_ID_FIELD_NUMBER: _ClassVar[int]
    FORCE_FIELD_NUMBER: _ClassVar[int]
    chunk_id: str
    force: bool
    def __init__(self, chunk_id: _Optional[str] = ..., force: _Optional[bool] = ...) -> None: ...

from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Job(_message.Message):
    __slots__ = ("jobId", "status", "datasetName", "datasetUrl", "meta", "createdAt", "assignedNode", "startedAt", "finishedAt", "duration", "modelHash", "metadata")
    JOBID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    DATASETNAME_FIELD_NUMBER: _ClassVar[int]
    DATASETURL_FIELD_NUMBER: _ClassVar[int]
    META_FIELD_NUMBER: _ClassVar[int]
    CREATEDAT_FIELD_NUMBER: _ClassVar[int]
    ASSIGNEDNODE_FIELD_NUMBER: _ClassVar[int]
    STARTEDAT_FIELD_NUMBER: _ClassVar[int]
    FINISHEDAT_FIELD_NUMBER: _ClassVar[int]
    DURATION_FIELD_NUMBER: _ClassVar[int]
    MODELHASH_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    jobId: str
    status: str
    datasetName: str
    datasetUrl: str
    meta: _struct_pb2.Struct
    createdAt: int
    assignedNode: _struct_pb2.Value
    startedAt: _struct_pb2.Value
    finishedAt: _struct_pb2.Value
    duration: _struct_pb2.Value
    modelHash: _struct_pb2.Value
    metadata: _struct_pb2.Struct
    def __init__(self, jobId: _Optional[str] = ..., status: _Optional[str] = ..., datasetName: _Optional[str] = ..., datasetUrl: _Optional[str] = ..., meta: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., createdAt: _Optional[int] = ..., assignedNode: _Optional[_Union[_struct_pb2.Value, _Mapping]] = ..., startedAt: _Optional[_Union[_struct_pb2.Value, _Mapping]] = ..., finishedAt: _Optional[_Union[_struct_pb2.Value, _Mapping]] = ..., duration: _Optional[_Union[_struct_pb2.Value, _Mapping]] = ..., modelHash: _Optional[_Union[_struct_pb2.Value, _Mapping]] = ..., metadata: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ...) -> None: ...

class LogEntry(_message.Message):
    __slots__ = ("line", "timestamp")
    LINE_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    line: str
    timestamp: int
    def __init__(self, line: _Optional[str] = ..., timestamp: _Optional[int] = ...) -> None: ...

class JobDetail(_message.Message):
    __slots__ = ("jobId", "status", "datasetName", "datasetUrl", "meta", "createdAt", "assignedNode", "startedAt", "finishedAt", "duration", "modelHash", "metadata", "logs", "provenance")
    JOBID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    DATASETNAME_FIELD_NUMBER: _ClassVar[int]
    DATASETURL_FIELD_NUMBER: _ClassVar[int]
    META_FIELD_NUMBER: _ClassVar[int]
    CREATEDAT_FIELD_NUMBER: _ClassVar[int]
    ASSIGNEDNODE_FIELD_NUMBER: _ClassVar[int]
    STARTEDAT_FIELD_NUMBER: _ClassVar[int]
    FINISHEDAT_FIELD_NUMBER: _ClassVar[int]
    DURATION_FIELD_NUMBER: _ClassVar[int]
    MODELHASH_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    LOGS_FIELD_NUMBER: _ClassVar[int]
    PROVENANCE_FIELD_NUMBER: _ClassVar[int]
    jobId: str
    status: str
    datasetName: str
    datasetUrl: str
    meta: _struct_pb2.Struct
    createdAt: int
    assignedNode: _struct_pb2.Value
    startedAt: _struct_pb2.Value
    finishedAt: _struct_pb2.Value
    duration: _struct_pb2.Value
    modelHash: _struct_pb2.Value
    metadata: _struct_pb2.Struct
    logs: _containers.RepeatedCompositeFieldContainer[LogEntry]
    provenance: _containers.RepeatedCompositeFieldContainer[_struct_pb2.Struct]
    def __init__(self, jobId: _Optional[str] = ..., status: _Optional[str] = ..., datasetName: _Optional[str] = ..., datasetUrl: _Optional[str] = ..., meta: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., createdAt: _Optional[int] = ..., assignedNode: _Optional[_Union[_struct_pb2.Value, _Mapping]] = ..., startedAt: _Optional[_Union[_struct_pb2.Value, _Mapping]] = ..., finishedAt: _Optional[_Union[_struct_pb2.Value, _Mapping]] = ..., duration: _Optional[_Union[_struct_pb2.Value, _Mapping]] = ..., modelHash: _Optional[_Union[_struct_pb2.Value, _Mapping]] = ..., metadata: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., logs: _Optional[_Iterable[_Union[LogEntry, _Mapping]]] = ..., provenance: _Optional[_Iterable[_Union[_struct_pb2.Struct, _Mapping]]] = ...) -> None: ...

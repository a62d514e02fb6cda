from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class NodeSpecs(_message.Message):
    __slots__ = ("cpuUsage", "ramUsage", "totalRAM_GB", "os", "platform", "cpuCount", "gpuCount", "processor")
    CPUUSAGE_FIELD_NUMBER: _ClassVar[int]
    RAMUSAGE_FIELD_NUMBER: _ClassVar[int]
    TOTALRAM_GB_FIELD_NUMBER: _ClassVar[int]
    OS_FIELD_NUMBER: _ClassVar[int]
    PLATFORM_FIELD_NUMBER: _ClassVar[int]
    CPUCOUNT_FIELD_NUMBER: _ClassVar[int]
    GPUCOUNT_FIELD_NUMBER: _ClassVar[int]
    PROCESSOR_FIELD_NUMBER: _ClassVar[int]
    cpuUsage: float
    ramUsage: float
    totalRAM_GB: float
    os: str
    platform: str
    cpuCount: int
    gpuCount: int
    processor: str
    def __init__(self, cpuUsage: _Optional[float] = ..., ramUsage: _Optional[float] = ..., totalRAM_GB: _Optional[float] = ..., os: _Optional[str] = ..., platform: _Optional[str] = ..., cpuCount: _Optional[int] = ..., gpuCount: _Optional[int] = ..., processor: _Optional[str] = ...) -> None: ...

class ComputeNode(_message.Message):
    __slots__ = ("nodeId", "status", "lastSeen", "lastSeenAgo", "specs")
    NODEID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    LASTSEEN_FIELD_NUMBER: _ClassVar[int]
    LASTSEENAGO_FIELD_NUMBER: _ClassVar[int]
    SPECS_FIELD_NUMBER: _ClassVar[int]
    nodeId: str
    status: str
    lastSeen: int
    lastSeenAgo: int
    specs: NodeSpecs
    def __init__(self, nodeId: _Optional[str] = ..., status: _Optional[str] = ..., lastSeen: _Optional[int] = ..., lastSeenAgo: _Optional[int] = ..., specs: _Optional[_Union[NodeSpecs, _Mapping]] = ...) -> None: ...

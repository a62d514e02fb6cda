import datetime

from google.api import field_behavior_pb2 as _field_behavior_pb2
from google.api import resource_pb2 as _resource_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class NodeState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    NODE_STATE_UNSPECIFIED: _ClassVar[NodeState]
    NODE_STATE_ONLINE: _ClassVar[NodeState]
    NODE_STATE_RECONNECTING: _ClassVar[NodeState]
    NODE_STATE_OFFLINE: _ClassVar[NodeState]
NODE_STATE_UNSPECIFIED: NodeState
NODE_STATE_ONLINE: NodeState
NODE_STATE_RECONNECTING: NodeState
NODE_STATE_OFFLINE: NodeState

class Node(_message.Message):
    __slots__ = ("name", "hostname", "state", "capabilities", "usage", "allocated", "last_seen_time", "create_time", "agent_version", "tasks", "labels", "revoke_time")
    class LabelsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    NAME_FIELD_NUMBER: _ClassVar[int]
    HOSTNAME_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    CAPABILITIES_FIELD_NUMBER: _ClassVar[int]
    USAGE_FIELD_NUMBER: _ClassVar[int]
    ALLOCATED_FIELD_NUMBER: _ClassVar[int]
    LAST_SEEN_TIME_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    AGENT_VERSION_FIELD_NUMBER: _ClassVar[int]
    TASKS_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    REVOKE_TIME_FIELD_NUMBER: _ClassVar[int]
    name: str
    hostname: str
    state: NodeState
    capabilities: Capabilities
    usage: NodeUsage
    allocated: Resources
    last_seen_time: _timestamp_pb2.Timestamp
    create_time: _timestamp_pb2.Timestamp
    agent_version: str
    tasks: _containers.RepeatedScalarFieldContainer[str]
    labels: _containers.ScalarMap[str, str]
    revoke_time: _timestamp_pb2.Timestamp
    def __init__(self, name: _Optional[str] = ..., hostname: _Optional[str] = ..., state: _Optional[_Union[NodeState, str]] = ..., capabilities: _Optional[_Union[Capabilities, _Mapping]] = ..., usage: _Optional[_Union[NodeUsage, _Mapping]] = ..., allocated: _Optional[_Union[Resources, _Mapping]] = ..., last_seen_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., agent_version: _Optional[str] = ..., tasks: _Optional[_Iterable[str]] = ..., labels: _Optional[_Mapping[str, str]] = ..., revoke_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class Capabilities(_message.Message):
    __slots__ = ("cpu_cores", "memory_mb", "gpus", "os", "platform", "python_version", "torch_version", "disk_bytes")
    CPU_CORES_FIELD_NUMBER: _ClassVar[int]
    MEMORY_MB_FIELD_NUMBER: _ClassVar[int]
    GPUS_FIELD_NUMBER: _ClassVar[int]
    OS_FIELD_NUMBER: _ClassVar[int]
    PLATFORM_FIELD_NUMBER: _ClassVar[int]
    PYTHON_VERSION_FIELD_NUMBER: _ClassVar[int]
    TORCH_VERSION_FIELD_NUMBER: _ClassVar[int]
    DISK_BYTES_FIELD_NUMBER: _ClassVar[int]
    cpu_cores: int
    memory_mb: int
    gpus: _containers.RepeatedCompositeFieldContainer[Gpu]
    os: str
    platform: str
    python_version: str
    torch_version: str
    disk_bytes: int
    def __init__(self, cpu_cores: _Optional[int] = ..., memory_mb: _Optional[int] = ..., gpus: _Optional[_Iterable[_Union[Gpu, _Mapping]]] = ..., os: _Optional[str] = ..., platform: _Optional[str] = ..., python_version: _Optional[str] = ..., torch_version: _Optional[str] = ..., disk_bytes: _Optional[int] = ...) -> None: ...

class Gpu(_message.Message):
    __slots__ = ("index", "uuid", "name", "memory_mb", "compute_capability")
    INDEX_FIELD_NUMBER: _ClassVar[int]
    UUID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    MEMORY_MB_FIELD_NUMBER: _ClassVar[int]
    COMPUTE_CAPABILITY_FIELD_NUMBER: _ClassVar[int]
    index: int
    uuid: str
    name: str
    memory_mb: int
    compute_capability: str
    def __init__(self, index: _Optional[int] = ..., uuid: _Optional[str] = ..., name: _Optional[str] = ..., memory_mb: _Optional[int] = ..., compute_capability: _Optional[str] = ...) -> None: ...

class NodeUsage(_message.Message):
    __slots__ = ("cpu_percent", "memory_percent", "memory_used_mb", "gpus", "load_average")
    CPU_PERCENT_FIELD_NUMBER: _ClassVar[int]
    MEMORY_PERCENT_FIELD_NUMBER: _ClassVar[int]
    MEMORY_USED_MB_FIELD_NUMBER: _ClassVar[int]
    GPUS_FIELD_NUMBER: _ClassVar[int]
    LOAD_AVERAGE_FIELD_NUMBER: _ClassVar[int]
    cpu_percent: float
    memory_percent: float
    memory_used_mb: int
    gpus: _containers.RepeatedCompositeFieldContainer[GpuUsage]
    load_average: float
    def __init__(self, cpu_percent: _Optional[float] = ..., memory_percent: _Optional[float] = ..., memory_used_mb: _Optional[int] = ..., gpus: _Optional[_Iterable[_Union[GpuUsage, _Mapping]]] = ..., load_average: _Optional[float] = ...) -> None: ...

class GpuUsage(_message.Message):
    __slots__ = ("index", "utilization_percent", "memory_used_mb", "temperature_c", "power_w")
    INDEX_FIELD_NUMBER: _ClassVar[int]
    UTILIZATION_PERCENT_FIELD_NUMBER: _ClassVar[int]
    MEMORY_USED_MB_FIELD_NUMBER: _ClassVar[int]
    TEMPERATURE_C_FIELD_NUMBER: _ClassVar[int]
    POWER_W_FIELD_NUMBER: _ClassVar[int]
    index: int
    utilization_percent: float
    memory_used_mb: int
    temperature_c: float
    power_w: float
    def __init__(self, index: _Optional[int] = ..., utilization_percent: _Optional[float] = ..., memory_used_mb: _Optional[int] = ..., temperature_c: _Optional[float] = ..., power_w: _Optional[float] = ...) -> None: ...

class Resources(_message.Message):
    __slots__ = ("gpus", "gpu_memory_mb", "cpu_cores", "memory_mb", "node", "locks")
    GPUS_FIELD_NUMBER: _ClassVar[int]
    GPU_MEMORY_MB_FIELD_NUMBER: _ClassVar[int]
    CPU_CORES_FIELD_NUMBER: _ClassVar[int]
    MEMORY_MB_FIELD_NUMBER: _ClassVar[int]
    NODE_FIELD_NUMBER: _ClassVar[int]
    LOCKS_FIELD_NUMBER: _ClassVar[int]
    gpus: int
    gpu_memory_mb: int
    cpu_cores: float
    memory_mb: int
    node: str
    locks: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, gpus: _Optional[int] = ..., gpu_memory_mb: _Optional[int] = ..., cpu_cores: _Optional[float] = ..., memory_mb: _Optional[int] = ..., node: _Optional[str] = ..., locks: _Optional[_Iterable[str]] = ...) -> None: ...

from aifarm.options.v1 import error_options_pb2 as _error_options_pb2
from google.api import annotations_pb2 as _annotations_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ListNodesRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListNodesResponse(_message.Message):
    __slots__ = ("nodes",)
    NODES_FIELD_NUMBER: _ClassVar[int]
    nodes: _containers.RepeatedCompositeFieldContainer[HostNode]
    def __init__(self, nodes: _Optional[_Iterable[_Union[HostNode, _Mapping]]] = ...) -> None: ...

class HostNode(_message.Message):
    __slots__ = ("node_id", "hostname", "ip_address", "status", "last_heartbeat", "capabilities")
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    HOSTNAME_FIELD_NUMBER: _ClassVar[int]
    IP_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    LAST_HEARTBEAT_FIELD_NUMBER: _ClassVar[int]
    CAPABILITIES_FIELD_NUMBER: _ClassVar[int]
    node_id: str
    hostname: str
    ip_address: str
    status: str
    last_heartbeat: str
    capabilities: NodeCapabilities
    def __init__(self, node_id: _Optional[str] = ..., hostname: _Optional[str] = ..., ip_address: _Optional[str] = ..., status: _Optional[str] = ..., last_heartbeat: _Optional[str] = ..., capabilities: _Optional[_Union[NodeCapabilities, _Mapping]] = ...) -> None: ...

class NodeCapabilities(_message.Message):
    __slots__ = ("gpus", "storage")
    GPUS_FIELD_NUMBER: _ClassVar[int]
    STORAGE_FIELD_NUMBER: _ClassVar[int]
    gpus: _containers.RepeatedScalarFieldContainer[str]
    storage: NodeStorage
    def __init__(self, gpus: _Optional[_Iterable[str]] = ..., storage: _Optional[_Union[NodeStorage, _Mapping]] = ...) -> None: ...

class NodeStorage(_message.Message):
    __slots__ = ("disk", "dram")
    DISK_FIELD_NUMBER: _ClassVar[int]
    DRAM_FIELD_NUMBER: _ClassVar[int]
    disk: float
    dram: float
    def __init__(self, disk: _Optional[float] = ..., dram: _Optional[float] = ...) -> None: ...

class GetHealthRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class HostHealth(_message.Message):
    __slots__ = ("status", "database", "nodes_online", "nodes_total", "timestamp")
    STATUS_FIELD_NUMBER: _ClassVar[int]
    DATABASE_FIELD_NUMBER: _ClassVar[int]
    NODES_ONLINE_FIELD_NUMBER: _ClassVar[int]
    NODES_TOTAL_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    status: str
    database: bool
    nodes_online: int
    nodes_total: int
    timestamp: str
    def __init__(self, status: _Optional[str] = ..., database: _Optional[bool] = ..., nodes_online: _Optional[int] = ..., nodes_total: _Optional[int] = ..., timestamp: _Optional[str] = ...) -> None: ...

class GetMetricsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class HostMetrics(_message.Message):
    __slots__ = ("models", "models_ready", "nodes_online", "nodes_total", "gpus", "tasks", "cpu_usage", "memory_used_mb", "memory_total_mb", "gpu_utilization")
    class TasksEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    MODELS_FIELD_NUMBER: _ClassVar[int]
    MODELS_READY_FIELD_NUMBER: _ClassVar[int]
    NODES_ONLINE_FIELD_NUMBER: _ClassVar[int]
    NODES_TOTAL_FIELD_NUMBER: _ClassVar[int]
    GPUS_FIELD_NUMBER: _ClassVar[int]
    TASKS_FIELD_NUMBER: _ClassVar[int]
    CPU_USAGE_FIELD_NUMBER: _ClassVar[int]
    MEMORY_USED_MB_FIELD_NUMBER: _ClassVar[int]
    MEMORY_TOTAL_MB_FIELD_NUMBER: _ClassVar[int]
    GPU_UTILIZATION_FIELD_NUMBER: _ClassVar[int]
    models: int
    models_ready: int
    nodes_online: int
    nodes_total: int
    gpus: int
    tasks: _containers.ScalarMap[str, int]
    cpu_usage: float
    memory_used_mb: float
    memory_total_mb: float
    gpu_utilization: float
    def __init__(self, models: _Optional[int] = ..., models_ready: _Optional[int] = ..., nodes_online: _Optional[int] = ..., nodes_total: _Optional[int] = ..., gpus: _Optional[int] = ..., tasks: _Optional[_Mapping[str, int]] = ..., cpu_usage: _Optional[float] = ..., memory_used_mb: _Optional[float] = ..., memory_total_mb: _Optional[float] = ..., gpu_utilization: _Optional[float] = ...) -> None: ...

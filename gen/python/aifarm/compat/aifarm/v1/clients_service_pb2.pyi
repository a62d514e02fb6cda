from aifarm.options.v1 import error_options_pb2 as _error_options_pb2
from aifarm.options.v1 import http_options_pb2 as _http_options_pb2
from google.api import annotations_pb2 as _annotations_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ListClientsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListClientsResponse(_message.Message):
    __slots__ = ("clients",)
    CLIENTS_FIELD_NUMBER: _ClassVar[int]
    clients: _containers.RepeatedCompositeFieldContainer[Client]
    def __init__(self, clients: _Optional[_Iterable[_Union[Client, _Mapping]]] = ...) -> None: ...

class Client(_message.Message):
    __slots__ = ("id", "status", "resources", "last_seen")
    ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    RESOURCES_FIELD_NUMBER: _ClassVar[int]
    LAST_SEEN_FIELD_NUMBER: _ClassVar[int]
    id: str
    status: str
    resources: ClientResources
    last_seen: str
    def __init__(self, id: _Optional[str] = ..., status: _Optional[str] = ..., resources: _Optional[_Union[ClientResources, _Mapping]] = ..., last_seen: _Optional[str] = ...) -> None: ...

class ClientResources(_message.Message):
    __slots__ = ("cpu", "ram", "gpu")
    CPU_FIELD_NUMBER: _ClassVar[int]
    RAM_FIELD_NUMBER: _ClassVar[int]
    GPU_FIELD_NUMBER: _ClassVar[int]
    cpu: CpuResources
    ram: RamResources
    gpu: _containers.RepeatedCompositeFieldContainer[GpuResources]
    def __init__(self, cpu: _Optional[_Union[CpuResources, _Mapping]] = ..., ram: _Optional[_Union[RamResources, _Mapping]] = ..., gpu: _Optional[_Iterable[_Union[GpuResources, _Mapping]]] = ...) -> None: ...

class CpuResources(_message.Message):
    __slots__ = ("cores", "usage")
    CORES_FIELD_NUMBER: _ClassVar[int]
    USAGE_FIELD_NUMBER: _ClassVar[int]
    cores: int
    usage: float
    def __init__(self, cores: _Optional[int] = ..., usage: _Optional[float] = ...) -> None: ...

class RamResources(_message.Message):
    __slots__ = ("total", "used")
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    USED_FIELD_NUMBER: _ClassVar[int]
    total: int
    used: int
    def __init__(self, total: _Optional[int] = ..., used: _Optional[int] = ...) -> None: ...

class GpuResources(_message.Message):
    __slots__ = ("id", "name", "memory")
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    MEMORY_FIELD_NUMBER: _ClassVar[int]
    id: int
    name: str
    memory: GpuMemory
    def __init__(self, id: _Optional[int] = ..., name: _Optional[str] = ..., memory: _Optional[_Union[GpuMemory, _Mapping]] = ...) -> None: ...

class GpuMemory(_message.Message):
    __slots__ = ("total", "used")
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    USED_FIELD_NUMBER: _ClassVar[int]
    total: int
    used: int
    def __init__(self, total: _Optional[int] = ..., used: _Optional[int] = ...) -> None: ...

class GetClientRequest(_message.Message):
    __slots__ = ("client_id",)
    CLIENT_ID_FIELD_NUMBER: _ClassVar[int]
    client_id: str
    def __init__(self, client_id: _Optional[str] = ...) -> None: ...

class ClientDetail(_message.Message):
    __slots__ = ("id", "status", "resources", "tasks", "performance", "last_seen")
    ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    RESOURCES_FIELD_NUMBER: _ClassVar[int]
    TASKS_FIELD_NUMBER: _ClassVar[int]
    PERFORMANCE_FIELD_NUMBER: _ClassVar[int]
    LAST_SEEN_FIELD_NUMBER: _ClassVar[int]
    id: str
    status: str
    resources: ClientResources
    tasks: _containers.RepeatedCompositeFieldContainer[ClientTask]
    performance: Performance
    last_seen: str
    def __init__(self, id: _Optional[str] = ..., status: _Optional[str] = ..., resources: _Optional[_Union[ClientResources, _Mapping]] = ..., tasks: _Optional[_Iterable[_Union[ClientTask, _Mapping]]] = ..., performance: _Optional[_Union[Performance, _Mapping]] = ..., last_seen: _Optional[str] = ...) -> None: ...

class ClientTask(_message.Message):
    __slots__ = ("id", "status", "progress")
    ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    id: str
    status: str
    progress: float
    def __init__(self, id: _Optional[str] = ..., status: _Optional[str] = ..., progress: _Optional[float] = ...) -> None: ...

class Performance(_message.Message):
    __slots__ = ("completed_tasks", "average_time", "success_rate")
    COMPLETED_TASKS_FIELD_NUMBER: _ClassVar[int]
    AVERAGE_TIME_FIELD_NUMBER: _ClassVar[int]
    SUCCESS_RATE_FIELD_NUMBER: _ClassVar[int]
    completed_tasks: int
    average_time: float
    success_rate: float
    def __init__(self, completed_tasks: _Optional[int] = ..., average_time: _Optional[float] = ..., success_rate: _Optional[float] = ...) -> None: ...

from aifarm.compat.gswarm.v1 import host_model_service_pb2 as _host_model_service_pb2
from aifarm.options.v1 import error_options_pb2 as _error_options_pb2
from aifarm.options.v1 import http_options_pb2 as _http_options_pb2
from google.api import annotations_pb2 as _annotations_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class GetProfilerStatusRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ProfilerStatus(_message.Message):
    __slots__ = ("is_profiling", "active_sessions", "connected_clients", "enable_bandwidth_profiling", "enable_nvlink_profiling", "sampling_frequency_ms")
    IS_PROFILING_FIELD_NUMBER: _ClassVar[int]
    ACTIVE_SESSIONS_FIELD_NUMBER: _ClassVar[int]
    CONNECTED_CLIENTS_FIELD_NUMBER: _ClassVar[int]
    ENABLE_BANDWIDTH_PROFILING_FIELD_NUMBER: _ClassVar[int]
    ENABLE_NVLINK_PROFILING_FIELD_NUMBER: _ClassVar[int]
    SAMPLING_FREQUENCY_MS_FIELD_NUMBER: _ClassVar[int]
    is_profiling: bool
    active_sessions: _containers.RepeatedCompositeFieldContainer[ActiveSession]
    connected_clients: int
    enable_bandwidth_profiling: bool
    enable_nvlink_profiling: bool
    sampling_frequency_ms: int
    def __init__(self, is_profiling: _Optional[bool] = ..., active_sessions: _Optional[_Iterable[_Union[ActiveSession, _Mapping]]] = ..., connected_clients: _Optional[int] = ..., enable_bandwidth_profiling: _Optional[bool] = ..., enable_nvlink_profiling: _Optional[bool] = ..., sampling_frequency_ms: _Optional[int] = ...) -> None: ...

class ActiveSession(_message.Message):
    __slots__ = ("name", "start_time", "frames_collected")
    NAME_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    FRAMES_COLLECTED_FIELD_NUMBER: _ClassVar[int]
    name: str
    start_time: str
    frames_collected: int
    def __init__(self, name: _Optional[str] = ..., start_time: _Optional[str] = ..., frames_collected: _Optional[int] = ...) -> None: ...

class StartProfilingRequest(_message.Message):
    __slots__ = ("name", "report_metrics", "sampling_frequency_ms", "nodes", "enable_nvlink_profiling", "enable_bandwidth_profiling")
    NAME_FIELD_NUMBER: _ClassVar[int]
    REPORT_METRICS_FIELD_NUMBER: _ClassVar[int]
    SAMPLING_FREQUENCY_MS_FIELD_NUMBER: _ClassVar[int]
    NODES_FIELD_NUMBER: _ClassVar[int]
    ENABLE_NVLINK_PROFILING_FIELD_NUMBER: _ClassVar[int]
    ENABLE_BANDWIDTH_PROFILING_FIELD_NUMBER: _ClassVar[int]
    name: str
    report_metrics: _containers.RepeatedScalarFieldContainer[str]
    sampling_frequency_ms: int
    nodes: _containers.RepeatedScalarFieldContainer[str]
    enable_nvlink_profiling: bool
    enable_bandwidth_profiling: bool
    def __init__(self, name: _Optional[str] = ..., report_metrics: _Optional[_Iterable[str]] = ..., sampling_frequency_ms: _Optional[int] = ..., nodes: _Optional[_Iterable[str]] = ..., enable_nvlink_profiling: _Optional[bool] = ..., enable_bandwidth_profiling: _Optional[bool] = ...) -> None: ...

class StopProfilingRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class ListProfilingSessionsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ProfilingSessions(_message.Message):
    __slots__ = ("sessions",)
    SESSIONS_FIELD_NUMBER: _ClassVar[int]
    sessions: _containers.RepeatedCompositeFieldContainer[ProfilingSessionSummary]
    def __init__(self, sessions: _Optional[_Iterable[_Union[ProfilingSessionSummary, _Mapping]]] = ...) -> None: ...

class ProfilingSessionSummary(_message.Message):
    __slots__ = ("name", "active", "start_time", "frames", "end_time", "json_file", "plot_file")
    NAME_FIELD_NUMBER: _ClassVar[int]
    ACTIVE_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    FRAMES_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    JSON_FILE_FIELD_NUMBER: _ClassVar[int]
    PLOT_FILE_FIELD_NUMBER: _ClassVar[int]
    name: str
    active: bool
    start_time: str
    frames: int
    end_time: str
    json_file: str
    plot_file: str
    def __init__(self, name: _Optional[str] = ..., active: _Optional[bool] = ..., start_time: _Optional[str] = ..., frames: _Optional[int] = ..., end_time: _Optional[str] = ..., json_file: _Optional[str] = ..., plot_file: _Optional[str] = ...) -> None: ...

class ListProfilerClientsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ProfilerClients(_message.Message):
    __slots__ = ("clients",)
    CLIENTS_FIELD_NUMBER: _ClassVar[int]
    clients: _containers.RepeatedCompositeFieldContainer[ProfilerClient]
    def __init__(self, clients: _Optional[_Iterable[_Union[ProfilerClient, _Mapping]]] = ...) -> None: ...

class ProfilerClient(_message.Message):
    __slots__ = ("client_id", "hostname", "gpus", "last_update", "status")
    CLIENT_ID_FIELD_NUMBER: _ClassVar[int]
    HOSTNAME_FIELD_NUMBER: _ClassVar[int]
    GPUS_FIELD_NUMBER: _ClassVar[int]
    LAST_UPDATE_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    client_id: str
    hostname: str
    gpus: _containers.RepeatedCompositeFieldContainer[ProfilerGpu]
    last_update: str
    status: str
    def __init__(self, client_id: _Optional[str] = ..., hostname: _Optional[str] = ..., gpus: _Optional[_Iterable[_Union[ProfilerGpu, _Mapping]]] = ..., last_update: _Optional[str] = ..., status: _Optional[str] = ...) -> None: ...

class ProfilerGpu(_message.Message):
    __slots__ = ("device_id", "name", "memory_total", "compute_capability")
    DEVICE_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    MEMORY_TOTAL_FIELD_NUMBER: _ClassVar[int]
    COMPUTE_CAPABILITY_FIELD_NUMBER: _ClassVar[int]
    device_id: int
    name: str
    memory_total: int
    compute_capability: str
    def __init__(self, device_id: _Optional[int] = ..., name: _Optional[str] = ..., memory_total: _Optional[int] = ..., compute_capability: _Optional[str] = ...) -> None: ...

class GetLatestMetricsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class LatestMetrics(_message.Message):
    __slots__ = ("metrics",)
    METRICS_FIELD_NUMBER: _ClassVar[int]
    metrics: _containers.RepeatedCompositeFieldContainer[NodeMetrics]
    def __init__(self, metrics: _Optional[_Iterable[_Union[NodeMetrics, _Mapping]]] = ...) -> None: ...

class NodeMetrics(_message.Message):
    __slots__ = ("client_id", "timestamp", "cpu_percent", "memory_percent", "memory_used_mb", "gpus")
    CLIENT_ID_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    CPU_PERCENT_FIELD_NUMBER: _ClassVar[int]
    MEMORY_PERCENT_FIELD_NUMBER: _ClassVar[int]
    MEMORY_USED_MB_FIELD_NUMBER: _ClassVar[int]
    GPUS_FIELD_NUMBER: _ClassVar[int]
    client_id: str
    timestamp: str
    cpu_percent: float
    memory_percent: float
    memory_used_mb: float
    gpus: _containers.RepeatedCompositeFieldContainer[GpuMetrics]
    def __init__(self, client_id: _Optional[str] = ..., timestamp: _Optional[str] = ..., cpu_percent: _Optional[float] = ..., memory_percent: _Optional[float] = ..., memory_used_mb: _Optional[float] = ..., gpus: _Optional[_Iterable[_Union[GpuMetrics, _Mapping]]] = ...) -> None: ...

class GpuMetrics(_message.Message):
    __slots__ = ("device_id", "gpu_util", "mem_util", "mem_used_mb", "mem_total_mb", "temperature", "power")
    DEVICE_ID_FIELD_NUMBER: _ClassVar[int]
    GPU_UTIL_FIELD_NUMBER: _ClassVar[int]
    MEM_UTIL_FIELD_NUMBER: _ClassVar[int]
    MEM_USED_MB_FIELD_NUMBER: _ClassVar[int]
    MEM_TOTAL_MB_FIELD_NUMBER: _ClassVar[int]
    TEMPERATURE_FIELD_NUMBER: _ClassVar[int]
    POWER_FIELD_NUMBER: _ClassVar[int]
    device_id: int
    gpu_util: float
    mem_util: float
    mem_used_mb: float
    mem_total_mb: float
    temperature: float
    power: float
    def __init__(self, device_id: _Optional[int] = ..., gpu_util: _Optional[float] = ..., mem_util: _Optional[float] = ..., mem_used_mb: _Optional[float] = ..., mem_total_mb: _Optional[float] = ..., temperature: _Optional[float] = ..., power: _Optional[float] = ...) -> None: ...

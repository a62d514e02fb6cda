import datetime

from google.api import field_behavior_pb2 as _field_behavior_pb2
from google.api import resource_pb2 as _resource_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ProfilingSession(_message.Message):
    __slots__ = ("name", "sampling_frequency_ms", "report_metrics", "nodes", "enable_nvlink_profiling", "enable_bandwidth_profiling", "active", "start_time", "end_time", "frame_count")
    NAME_FIELD_NUMBER: _ClassVar[int]
    SAMPLING_FREQUENCY_MS_FIELD_NUMBER: _ClassVar[int]
    REPORT_METRICS_FIELD_NUMBER: _ClassVar[int]
    NODES_FIELD_NUMBER: _ClassVar[int]
    ENABLE_NVLINK_PROFILING_FIELD_NUMBER: _ClassVar[int]
    ENABLE_BANDWIDTH_PROFILING_FIELD_NUMBER: _ClassVar[int]
    ACTIVE_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    FRAME_COUNT_FIELD_NUMBER: _ClassVar[int]
    name: str
    sampling_frequency_ms: int
    report_metrics: _containers.RepeatedScalarFieldContainer[str]
    nodes: _containers.RepeatedScalarFieldContainer[str]
    enable_nvlink_profiling: bool
    enable_bandwidth_profiling: bool
    active: bool
    start_time: _timestamp_pb2.Timestamp
    end_time: _timestamp_pb2.Timestamp
    frame_count: int
    def __init__(self, name: _Optional[str] = ..., sampling_frequency_ms: _Optional[int] = ..., report_metrics: _Optional[_Iterable[str]] = ..., nodes: _Optional[_Iterable[str]] = ..., enable_nvlink_profiling: _Optional[bool] = ..., enable_bandwidth_profiling: _Optional[bool] = ..., active: _Optional[bool] = ..., start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., frame_count: _Optional[int] = ...) -> None: ...

class ProfilingFrame(_message.Message):
    __slots__ = ("node", "time", "cpu_percent", "memory_percent", "memory_used_mb", "gpus")
    NODE_FIELD_NUMBER: _ClassVar[int]
    TIME_FIELD_NUMBER: _ClassVar[int]
    CPU_PERCENT_FIELD_NUMBER: _ClassVar[int]
    MEMORY_PERCENT_FIELD_NUMBER: _ClassVar[int]
    MEMORY_USED_MB_FIELD_NUMBER: _ClassVar[int]
    GPUS_FIELD_NUMBER: _ClassVar[int]
    node: str
    time: _timestamp_pb2.Timestamp
    cpu_percent: float
    memory_percent: float
    memory_used_mb: int
    gpus: _containers.RepeatedCompositeFieldContainer[GpuSample]
    def __init__(self, node: _Optional[str] = ..., time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., cpu_percent: _Optional[float] = ..., memory_percent: _Optional[float] = ..., memory_used_mb: _Optional[int] = ..., gpus: _Optional[_Iterable[_Union[GpuSample, _Mapping]]] = ...) -> None: ...

class GpuSample(_message.Message):
    __slots__ = ("index", "uuid", "utilization_percent", "memory_utilization_percent", "memory_used_mb", "memory_total_mb", "temperature_c", "power_w", "sm_clock_mhz", "memory_clock_mhz", "pcie_rx_kbps", "pcie_tx_kbps", "nvlink_kib", "memory_bandwidth_percent")
    INDEX_FIELD_NUMBER: _ClassVar[int]
    UUID_FIELD_NUMBER: _ClassVar[int]
    UTILIZATION_PERCENT_FIELD_NUMBER: _ClassVar[int]
    MEMORY_UTILIZATION_PERCENT_FIELD_NUMBER: _ClassVar[int]
    MEMORY_USED_MB_FIELD_NUMBER: _ClassVar[int]
    MEMORY_TOTAL_MB_FIELD_NUMBER: _ClassVar[int]
    TEMPERATURE_C_FIELD_NUMBER: _ClassVar[int]
    POWER_W_FIELD_NUMBER: _ClassVar[int]
    SM_CLOCK_MHZ_FIELD_NUMBER: _ClassVar[int]
    MEMORY_CLOCK_MHZ_FIELD_NUMBER: _ClassVar[int]
    PCIE_RX_KBPS_FIELD_NUMBER: _ClassVar[int]
    PCIE_TX_KBPS_FIELD_NUMBER: _ClassVar[int]
    NVLINK_KIB_FIELD_NUMBER: _ClassVar[int]
    MEMORY_BANDWIDTH_PERCENT_FIELD_NUMBER: _ClassVar[int]
    index: int
    uuid: str
    utilization_percent: float
    memory_utilization_percent: float
    memory_used_mb: int
    memory_total_mb: int
    temperature_c: float
    power_w: float
    sm_clock_mhz: int
    memory_clock_mhz: int
    pcie_rx_kbps: int
    pcie_tx_kbps: int
    nvlink_kib: int
    memory_bandwidth_percent: float
    def __init__(self, index: _Optional[int] = ..., uuid: _Optional[str] = ..., utilization_percent: _Optional[float] = ..., memory_utilization_percent: _Optional[float] = ..., memory_used_mb: _Optional[int] = ..., memory_total_mb: _Optional[int] = ..., temperature_c: _Optional[float] = ..., power_w: _Optional[float] = ..., sm_clock_mhz: _Optional[int] = ..., memory_clock_mhz: _Optional[int] = ..., pcie_rx_kbps: _Optional[int] = ..., pcie_tx_kbps: _Optional[int] = ..., nvlink_kib: _Optional[int] = ..., memory_bandwidth_percent: _Optional[float] = ...) -> None: ...

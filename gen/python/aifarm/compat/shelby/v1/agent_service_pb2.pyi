from aifarm.options.v1 import error_options_pb2 as _error_options_pb2
from aifarm.compat.shelby.v1 import node_pb2 as _node_pb2
from aifarm.options.v1 import auth_options_pb2 as _auth_options_pb2
from aifarm.options.v1 import http_options_pb2 as _http_options_pb2
from google.api import annotations_pb2 as _annotations_pb2
from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class RegisterNodeRequest(_message.Message):
    __slots__ = ("nodeId", "hostname", "specs", "handshakeKey", "containerSupported")
    NODEID_FIELD_NUMBER: _ClassVar[int]
    HOSTNAME_FIELD_NUMBER: _ClassVar[int]
    SPECS_FIELD_NUMBER: _ClassVar[int]
    HANDSHAKEKEY_FIELD_NUMBER: _ClassVar[int]
    CONTAINERSUPPORTED_FIELD_NUMBER: _ClassVar[int]
    nodeId: str
    hostname: str
    specs: _node_pb2.NodeSpecs
    handshakeKey: str
    containerSupported: bool
    def __init__(self, nodeId: _Optional[str] = ..., hostname: _Optional[str] = ..., specs: _Optional[_Union[_node_pb2.NodeSpecs, _Mapping]] = ..., handshakeKey: _Optional[str] = ..., containerSupported: _Optional[bool] = ...) -> None: ...

class RegisterNodeResponse(_message.Message):
    __slots__ = ("success", "nodeId", "heartbeatIntervalSeconds", "heartbeatTtlSeconds", "message")
    SUCCESS_FIELD_NUMBER: _ClassVar[int]
    NODEID_FIELD_NUMBER: _ClassVar[int]
    HEARTBEATINTERVALSECONDS_FIELD_NUMBER: _ClassVar[int]
    HEARTBEATTTLSECONDS_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    success: bool
    nodeId: str
    heartbeatIntervalSeconds: float
    heartbeatTtlSeconds: float
    message: str
    def __init__(self, success: _Optional[bool] = ..., nodeId: _Optional[str] = ..., heartbeatIntervalSeconds: _Optional[float] = ..., heartbeatTtlSeconds: _Optional[float] = ..., message: _Optional[str] = ...) -> None: ...

class HeartbeatRequest(_message.Message):
    __slots__ = ("nodeId", "specs")
    NODEID_FIELD_NUMBER: _ClassVar[int]
    SPECS_FIELD_NUMBER: _ClassVar[int]
    nodeId: str
    specs: _node_pb2.NodeSpecs
    def __init__(self, nodeId: _Optional[str] = ..., specs: _Optional[_Union[_node_pb2.NodeSpecs, _Mapping]] = ...) -> None: ...

class HeartbeatResponse(_message.Message):
    __slots__ = ("success", "status")
    SUCCESS_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    success: bool
    status: str
    def __init__(self, success: _Optional[bool] = ..., status: _Optional[str] = ...) -> None: ...

class PollJobsRequest(_message.Message):
    __slots__ = ("nodeId",)
    NODEID_FIELD_NUMBER: _ClassVar[int]
    nodeId: str
    def __init__(self, nodeId: _Optional[str] = ...) -> None: ...

class PolledJob(_message.Message):
    __slots__ = ("jobId", "datasetName", "datasetUrl", "datasetHash", "runtimeMinutesEstimate", "meta")
    JOBID_FIELD_NUMBER: _ClassVar[int]
    DATASETNAME_FIELD_NUMBER: _ClassVar[int]
    DATASETURL_FIELD_NUMBER: _ClassVar[int]
    DATASETHASH_FIELD_NUMBER: _ClassVar[int]
    RUNTIMEMINUTESESTIMATE_FIELD_NUMBER: _ClassVar[int]
    META_FIELD_NUMBER: _ClassVar[int]
    jobId: str
    datasetName: str
    datasetUrl: str
    datasetHash: str
    runtimeMinutesEstimate: float
    meta: _struct_pb2.Struct
    def __init__(self, jobId: _Optional[str] = ..., datasetName: _Optional[str] = ..., datasetUrl: _Optional[str] = ..., datasetHash: _Optional[str] = ..., runtimeMinutesEstimate: _Optional[float] = ..., meta: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ...) -> None: ...

class PollJobsResponse(_message.Message):
    __slots__ = ("jobs", "count", "job")
    JOBS_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    JOB_FIELD_NUMBER: _ClassVar[int]
    jobs: _containers.RepeatedCompositeFieldContainer[PolledJob]
    count: int
    job: _struct_pb2.Value
    def __init__(self, jobs: _Optional[_Iterable[_Union[PolledJob, _Mapping]]] = ..., count: _Optional[int] = ..., job: _Optional[_Union[_struct_pb2.Value, _Mapping]] = ...) -> None: ...

class AckJobRequest(_message.Message):
    __slots__ = ("jobId", "nodeId", "signature")
    JOBID_FIELD_NUMBER: _ClassVar[int]
    NODEID_FIELD_NUMBER: _ClassVar[int]
    SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    jobId: str
    nodeId: str
    signature: str
    def __init__(self, jobId: _Optional[str] = ..., nodeId: _Optional[str] = ..., signature: _Optional[str] = ...) -> None: ...

class AckJobResponse(_message.Message):
    __slots__ = ("success", "jobId", "attempt", "status")
    SUCCESS_FIELD_NUMBER: _ClassVar[int]
    JOBID_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    success: bool
    jobId: str
    attempt: int
    status: str
    def __init__(self, success: _Optional[bool] = ..., jobId: _Optional[str] = ..., attempt: _Optional[int] = ..., status: _Optional[str] = ...) -> None: ...

class FetchScriptRequest(_message.Message):
    __slots__ = ("jobId", "nodeId")
    JOBID_FIELD_NUMBER: _ClassVar[int]
    NODEID_FIELD_NUMBER: _ClassVar[int]
    jobId: str
    nodeId: str
    def __init__(self, jobId: _Optional[str] = ..., nodeId: _Optional[str] = ...) -> None: ...

class FetchScriptResponse(_message.Message):
    __slots__ = ("jobId", "script", "requirements", "entrypoint", "scriptHash", "runtimeMinutesEstimate", "env")
    class EnvEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    JOBID_FIELD_NUMBER: _ClassVar[int]
    SCRIPT_FIELD_NUMBER: _ClassVar[int]
    REQUIREMENTS_FIELD_NUMBER: _ClassVar[int]
    ENTRYPOINT_FIELD_NUMBER: _ClassVar[int]
    SCRIPTHASH_FIELD_NUMBER: _ClassVar[int]
    RUNTIMEMINUTESESTIMATE_FIELD_NUMBER: _ClassVar[int]
    ENV_FIELD_NUMBER: _ClassVar[int]
    jobId: str
    script: str
    requirements: str
    entrypoint: str
    scriptHash: str
    runtimeMinutesEstimate: float
    env: _containers.ScalarMap[str, str]
    def __init__(self, jobId: _Optional[str] = ..., script: _Optional[str] = ..., requirements: _Optional[str] = ..., entrypoint: _Optional[str] = ..., scriptHash: _Optional[str] = ..., runtimeMinutesEstimate: _Optional[float] = ..., env: _Optional[_Mapping[str, str]] = ...) -> None: ...

class FinishJobRequest(_message.Message):
    __slots__ = ("jobId", "nodeId", "attempt", "exitCode", "modelHash", "error", "modelSizeBytes", "metadata", "durationSeconds")
    JOBID_FIELD_NUMBER: _ClassVar[int]
    NODEID_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    EXITCODE_FIELD_NUMBER: _ClassVar[int]
    MODELHASH_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    MODELSIZEBYTES_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    DURATIONSECONDS_FIELD_NUMBER: _ClassVar[int]
    jobId: str
    nodeId: str
    attempt: int
    exitCode: int
    modelHash: str
    error: str
    modelSizeBytes: int
    metadata: _struct_pb2.Struct
    durationSeconds: float
    def __init__(self, jobId: _Optional[str] = ..., nodeId: _Optional[str] = ..., attempt: _Optional[int] = ..., exitCode: _Optional[int] = ..., modelHash: _Optional[str] = ..., error: _Optional[str] = ..., modelSizeBytes: _Optional[int] = ..., metadata: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., durationSeconds: _Optional[float] = ...) -> None: ...

class FinishJobResponse(_message.Message):
    __slots__ = ("success", "jobId", "status")
    SUCCESS_FIELD_NUMBER: _ClassVar[int]
    JOBID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    success: bool
    jobId: str
    status: str
    def __init__(self, success: _Optional[bool] = ..., jobId: _Optional[str] = ..., status: _Optional[str] = ...) -> None: ...

class StreamLogRequest(_message.Message):
    __slots__ = ("jobId", "nodeId", "attempt", "line", "lines", "lineNo", "legacy_job_id")
    JOBID_FIELD_NUMBER: _ClassVar[int]
    NODEID_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    LINE_FIELD_NUMBER: _ClassVar[int]
    LINES_FIELD_NUMBER: _ClassVar[int]
    LINENO_FIELD_NUMBER: _ClassVar[int]
    LEGACY_JOB_ID_FIELD_NUMBER: _ClassVar[int]
    jobId: str
    nodeId: str
    attempt: int
    line: str
    lines: _containers.RepeatedScalarFieldContainer[str]
    lineNo: int
    legacy_job_id: str
    def __init__(self, jobId: _Optional[str] = ..., nodeId: _Optional[str] = ..., attempt: _Optional[int] = ..., line: _Optional[str] = ..., lines: _Optional[_Iterable[str]] = ..., lineNo: _Optional[int] = ..., legacy_job_id: _Optional[str] = ...) -> None: ...

class StreamLogResponse(_message.Message):
    __slots__ = ("success", "accepted", "cancelled")
    SUCCESS_FIELD_NUMBER: _ClassVar[int]
    ACCEPTED_FIELD_NUMBER: _ClassVar[int]
    CANCELLED_FIELD_NUMBER: _ClassVar[int]
    success: bool
    accepted: int
    cancelled: bool
    def __init__(self, success: _Optional[bool] = ..., accepted: _Optional[int] = ..., cancelled: _Optional[bool] = ...) -> None: ...

class ReportUsageRequest(_message.Message):
    __slots__ = ("nodeId", "cpuUsage", "ramUsage", "jobId", "cpu_percent", "ram_percent", "ts")
    NODEID_FIELD_NUMBER: _ClassVar[int]
    CPUUSAGE_FIELD_NUMBER: _ClassVar[int]
    RAMUSAGE_FIELD_NUMBER: _ClassVar[int]
    JOBID_FIELD_NUMBER: _ClassVar[int]
    CPU_PERCENT_FIELD_NUMBER: _ClassVar[int]
    RAM_PERCENT_FIELD_NUMBER: _ClassVar[int]
    TS_FIELD_NUMBER: _ClassVar[int]
    nodeId: str
    cpuUsage: float
    ramUsage: float
    jobId: str
    cpu_percent: float
    ram_percent: float
    ts: int
    def __init__(self, nodeId: _Optional[str] = ..., cpuUsage: _Optional[float] = ..., ramUsage: _Optional[float] = ..., jobId: _Optional[str] = ..., cpu_percent: _Optional[float] = ..., ram_percent: _Optional[float] = ..., ts: _Optional[int] = ...) -> None: ...

class ReportUsageResponse(_message.Message):
    __slots__ = ("success",)
    SUCCESS_FIELD_NUMBER: _ClassVar[int]
    success: bool
    def __init__(self, success: _Optional[bool] = ...) -> None: ...

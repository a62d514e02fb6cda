from aifarm.options.v1 import error_options_pb2 as _error_options_pb2
from aifarm.compat.shelby.v1 import job_pb2 as _job_pb2
from aifarm.options.v1 import http_options_pb2 as _http_options_pb2
from google.api import annotations_pb2 as _annotations_pb2
from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class CreateJobRequest(_message.Message):
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

class CreateJobResponse(_message.Message):
    __slots__ = ("success", "jobId", "status", "message")
    SUCCESS_FIELD_NUMBER: _ClassVar[int]
    JOBID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    success: bool
    jobId: str
    status: str
    message: str
    def __init__(self, success: _Optional[bool] = ..., jobId: _Optional[str] = ..., status: _Optional[str] = ..., message: _Optional[str] = ...) -> None: ...

class UploadScriptRequest(_message.Message):
    __slots__ = ("jobId", "script", "requirements", "entrypoint")
    JOBID_FIELD_NUMBER: _ClassVar[int]
    SCRIPT_FIELD_NUMBER: _ClassVar[int]
    REQUIREMENTS_FIELD_NUMBER: _ClassVar[int]
    ENTRYPOINT_FIELD_NUMBER: _ClassVar[int]
    jobId: str
    script: str
    requirements: str
    entrypoint: str
    def __init__(self, jobId: _Optional[str] = ..., script: _Optional[str] = ..., requirements: _Optional[str] = ..., entrypoint: _Optional[str] = ...) -> None: ...

class UploadScriptResponse(_message.Message):
    __slots__ = ("success", "jobId", "scriptHash", "message")
    SUCCESS_FIELD_NUMBER: _ClassVar[int]
    JOBID_FIELD_NUMBER: _ClassVar[int]
    SCRIPTHASH_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    success: bool
    jobId: str
    scriptHash: str
    message: str
    def __init__(self, success: _Optional[bool] = ..., jobId: _Optional[str] = ..., scriptHash: _Optional[str] = ..., message: _Optional[str] = ...) -> None: ...

class ListJobsRequest(_message.Message):
    __slots__ = ("status", "limit")
    STATUS_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    status: str
    limit: int
    def __init__(self, status: _Optional[str] = ..., limit: _Optional[int] = ...) -> None: ...

class ListJobsResponse(_message.Message):
    __slots__ = ("jobs", "count")
    JOBS_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    jobs: _containers.RepeatedCompositeFieldContainer[_job_pb2.Job]
    count: int
    def __init__(self, jobs: _Optional[_Iterable[_Union[_job_pb2.Job, _Mapping]]] = ..., count: _Optional[int] = ...) -> None: ...

class GetJobRequest(_message.Message):
    __slots__ = ("jobId",)
    JOBID_FIELD_NUMBER: _ClassVar[int]
    jobId: str
    def __init__(self, jobId: _Optional[str] = ...) -> None: ...

class DeleteJobRequest(_message.Message):
    __slots__ = ("jobId",)
    JOBID_FIELD_NUMBER: _ClassVar[int]
    jobId: str
    def __init__(self, jobId: _Optional[str] = ...) -> None: ...

class DeleteJobResponse(_message.Message):
    __slots__ = ("success", "message")
    SUCCESS_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    success: bool
    message: str
    def __init__(self, success: _Optional[bool] = ..., message: _Optional[str] = ...) -> None: ...

class RestartJobRequest(_message.Message):
    __slots__ = ("jobId",)
    JOBID_FIELD_NUMBER: _ClassVar[int]
    jobId: str
    def __init__(self, jobId: _Optional[str] = ...) -> None: ...

class RestartJobResponse(_message.Message):
    __slots__ = ("success", "jobId", "status", "message")
    SUCCESS_FIELD_NUMBER: _ClassVar[int]
    JOBID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    success: bool
    jobId: str
    status: str
    message: str
    def __init__(self, success: _Optional[bool] = ..., jobId: _Optional[str] = ..., status: _Optional[str] = ..., message: _Optional[str] = ...) -> None: ...

class GetJobLogsRequest(_message.Message):
    __slots__ = ("jobId", "limit")
    JOBID_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    jobId: str
    limit: int
    def __init__(self, jobId: _Optional[str] = ..., limit: _Optional[int] = ...) -> None: ...

class GetJobLogsResponse(_message.Message):
    __slots__ = ("jobId", "logs")
    JOBID_FIELD_NUMBER: _ClassVar[int]
    LOGS_FIELD_NUMBER: _ClassVar[int]
    jobId: str
    logs: _containers.RepeatedCompositeFieldContainer[_job_pb2.LogEntry]
    def __init__(self, jobId: _Optional[str] = ..., logs: _Optional[_Iterable[_Union[_job_pb2.LogEntry, _Mapping]]] = ...) -> None: ...

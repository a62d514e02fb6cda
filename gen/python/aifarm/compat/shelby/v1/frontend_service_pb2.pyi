from aifarm.options.v1 import error_options_pb2 as _error_options_pb2
from aifarm.compat.shelby.v1 import job_pb2 as _job_pb2
from aifarm.compat.shelby.v1 import node_pb2 as _node_pb2
from google.api import annotations_pb2 as _annotations_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class GetDashboardRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class JobStats(_message.Message):
    __slots__ = ("pending", "assigned", "finished", "total", "failed")
    PENDING_FIELD_NUMBER: _ClassVar[int]
    ASSIGNED_FIELD_NUMBER: _ClassVar[int]
    FINISHED_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    FAILED_FIELD_NUMBER: _ClassVar[int]
    pending: int
    assigned: int
    finished: int
    total: int
    failed: int
    def __init__(self, pending: _Optional[int] = ..., assigned: _Optional[int] = ..., finished: _Optional[int] = ..., total: _Optional[int] = ..., failed: _Optional[int] = ...) -> None: ...

class GetDashboardResponse(_message.Message):
    __slots__ = ("jobStats", "activeNodes", "recentJobs", "timestamp")
    JOBSTATS_FIELD_NUMBER: _ClassVar[int]
    ACTIVENODES_FIELD_NUMBER: _ClassVar[int]
    RECENTJOBS_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    jobStats: JobStats
    activeNodes: int
    recentJobs: _containers.RepeatedCompositeFieldContainer[_job_pb2.Job]
    timestamp: int
    def __init__(self, jobStats: _Optional[_Union[JobStats, _Mapping]] = ..., activeNodes: _Optional[int] = ..., recentJobs: _Optional[_Iterable[_Union[_job_pb2.Job, _Mapping]]] = ..., timestamp: _Optional[int] = ...) -> None: ...

class GetSystemHealthRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class JobQueue(_message.Message):
    __slots__ = ("pending", "running", "completed", "failed")
    PENDING_FIELD_NUMBER: _ClassVar[int]
    RUNNING_FIELD_NUMBER: _ClassVar[int]
    COMPLETED_FIELD_NUMBER: _ClassVar[int]
    FAILED_FIELD_NUMBER: _ClassVar[int]
    pending: int
    running: int
    completed: int
    failed: int
    def __init__(self, pending: _Optional[int] = ..., running: _Optional[int] = ..., completed: _Optional[int] = ..., failed: _Optional[int] = ...) -> None: ...

class GetSystemHealthResponse(_message.Message):
    __slots__ = ("status", "database", "activeNodes", "jobQueue", "timestamp")
    STATUS_FIELD_NUMBER: _ClassVar[int]
    DATABASE_FIELD_NUMBER: _ClassVar[int]
    ACTIVENODES_FIELD_NUMBER: _ClassVar[int]
    JOBQUEUE_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    status: str
    database: str
    activeNodes: int
    jobQueue: JobQueue
    timestamp: int
    def __init__(self, status: _Optional[str] = ..., database: _Optional[str] = ..., activeNodes: _Optional[int] = ..., jobQueue: _Optional[_Union[JobQueue, _Mapping]] = ..., timestamp: _Optional[int] = ...) -> None: ...

class ListNodesRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListNodesResponse(_message.Message):
    __slots__ = ("nodes", "count")
    NODES_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    nodes: _containers.RepeatedCompositeFieldContainer[_node_pb2.ComputeNode]
    count: int
    def __init__(self, nodes: _Optional[_Iterable[_Union[_node_pb2.ComputeNode, _Mapping]]] = ..., count: _Optional[int] = ...) -> None: ...

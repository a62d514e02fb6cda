import datetime

from aifarm.options.v1 import auth_options_pb2 as _auth_options_pb2
from aifarm.v1 import node_pb2 as _node_pb2
from aifarm.v1 import profiling_pb2 as _profiling_pb2
from aifarm.v1 import task_pb2 as _task_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class TaskAction(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TASK_ACTION_UNSPECIFIED: _ClassVar[TaskAction]
    TASK_ACTION_PAUSE: _ClassVar[TaskAction]
    TASK_ACTION_RESUME: _ClassVar[TaskAction]
    TASK_ACTION_STOP: _ClassVar[TaskAction]
    TASK_ACTION_CANCEL: _ClassVar[TaskAction]
TASK_ACTION_UNSPECIFIED: TaskAction
TASK_ACTION_PAUSE: TaskAction
TASK_ACTION_RESUME: TaskAction
TASK_ACTION_STOP: TaskAction
TASK_ACTION_CANCEL: TaskAction

class RegisterRequest(_message.Message):
    __slots__ = ("node_id", "csr_pem")
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    CSR_PEM_FIELD_NUMBER: _ClassVar[int]
    node_id: str
    csr_pem: str
    def __init__(self, node_id: _Optional[str] = ..., csr_pem: _Optional[str] = ...) -> None: ...

class RegisterResponse(_message.Message):
    __slots__ = ("node_id", "certificate_pem", "ca_pem", "node_secret")
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    CERTIFICATE_PEM_FIELD_NUMBER: _ClassVar[int]
    CA_PEM_FIELD_NUMBER: _ClassVar[int]
    NODE_SECRET_FIELD_NUMBER: _ClassVar[int]
    node_id: str
    certificate_pem: str
    ca_pem: str
    node_secret: str
    def __init__(self, node_id: _Optional[str] = ..., certificate_pem: _Optional[str] = ..., ca_pem: _Optional[str] = ..., node_secret: _Optional[str] = ...) -> None: ...

class ConnectRequest(_message.Message):
    __slots__ = ("hello", "heartbeat", "task_update", "log_batch", "reports", "profiling")
    HELLO_FIELD_NUMBER: _ClassVar[int]
    HEARTBEAT_FIELD_NUMBER: _ClassVar[int]
    TASK_UPDATE_FIELD_NUMBER: _ClassVar[int]
    LOG_BATCH_FIELD_NUMBER: _ClassVar[int]
    REPORTS_FIELD_NUMBER: _ClassVar[int]
    PROFILING_FIELD_NUMBER: _ClassVar[int]
    hello: Hello
    heartbeat: Heartbeat
    task_update: TaskUpdate
    log_batch: TaskLogBatch
    reports: ReportBatch
    profiling: ProfilingBatch
    def __init__(self, hello: _Optional[_Union[Hello, _Mapping]] = ..., heartbeat: _Optional[_Union[Heartbeat, _Mapping]] = ..., task_update: _Optional[_Union[TaskUpdate, _Mapping]] = ..., log_batch: _Optional[_Union[TaskLogBatch, _Mapping]] = ..., reports: _Optional[_Union[ReportBatch, _Mapping]] = ..., profiling: _Optional[_Union[ProfilingBatch, _Mapping]] = ...) -> None: ...

class ProfilingBatch(_message.Message):
    __slots__ = ("seq", "frames")
    SEQ_FIELD_NUMBER: _ClassVar[int]
    FRAMES_FIELD_NUMBER: _ClassVar[int]
    seq: int
    frames: _containers.RepeatedCompositeFieldContainer[_profiling_pb2.ProfilingFrame]
    def __init__(self, seq: _Optional[int] = ..., frames: _Optional[_Iterable[_Union[_profiling_pb2.ProfilingFrame, _Mapping]]] = ...) -> None: ...

class ReportBatch(_message.Message):
    __slots__ = ("reports",)
    REPORTS_FIELD_NUMBER: _ClassVar[int]
    reports: _containers.RepeatedCompositeFieldContainer[Report]
    def __init__(self, reports: _Optional[_Iterable[_Union[Report, _Mapping]]] = ...) -> None: ...

class Report(_message.Message):
    __slots__ = ("task_update", "log_batch", "profiling")
    TASK_UPDATE_FIELD_NUMBER: _ClassVar[int]
    LOG_BATCH_FIELD_NUMBER: _ClassVar[int]
    PROFILING_FIELD_NUMBER: _ClassVar[int]
    task_update: TaskUpdate
    log_batch: TaskLogBatch
    profiling: ProfilingBatch
    def __init__(self, task_update: _Optional[_Union[TaskUpdate, _Mapping]] = ..., log_batch: _Optional[_Union[TaskLogBatch, _Mapping]] = ..., profiling: _Optional[_Union[ProfilingBatch, _Mapping]] = ...) -> None: ...

class ConnectResponse(_message.Message):
    __slots__ = ("welcome", "assignment", "control", "ack", "assignments", "profiling")
    WELCOME_FIELD_NUMBER: _ClassVar[int]
    ASSIGNMENT_FIELD_NUMBER: _ClassVar[int]
    CONTROL_FIELD_NUMBER: _ClassVar[int]
    ACK_FIELD_NUMBER: _ClassVar[int]
    ASSIGNMENTS_FIELD_NUMBER: _ClassVar[int]
    PROFILING_FIELD_NUMBER: _ClassVar[int]
    welcome: Welcome
    assignment: Assignment
    control: TaskControl
    ack: Ack
    assignments: AssignmentBatch
    profiling: ProfilingControl
    def __init__(self, welcome: _Optional[_Union[Welcome, _Mapping]] = ..., assignment: _Optional[_Union[Assignment, _Mapping]] = ..., control: _Optional[_Union[TaskControl, _Mapping]] = ..., ack: _Optional[_Union[Ack, _Mapping]] = ..., assignments: _Optional[_Union[AssignmentBatch, _Mapping]] = ..., profiling: _Optional[_Union[ProfilingControl, _Mapping]] = ...) -> None: ...

class ProfilingControl(_message.Message):
    __slots__ = ("enabled", "sampling_frequency_ms", "enable_nvlink_profiling", "enable_bandwidth_profiling")
    ENABLED_FIELD_NUMBER: _ClassVar[int]
    SAMPLING_FREQUENCY_MS_FIELD_NUMBER: _ClassVar[int]
    ENABLE_NVLINK_PROFILING_FIELD_NUMBER: _ClassVar[int]
    ENABLE_BANDWIDTH_PROFILING_FIELD_NUMBER: _ClassVar[int]
    enabled: bool
    sampling_frequency_ms: int
    enable_nvlink_profiling: bool
    enable_bandwidth_profiling: bool
    def __init__(self, enabled: _Optional[bool] = ..., sampling_frequency_ms: _Optional[int] = ..., enable_nvlink_profiling: _Optional[bool] = ..., enable_bandwidth_profiling: _Optional[bool] = ...) -> None: ...

class AssignmentBatch(_message.Message):
    __slots__ = ("assignments",)
    ASSIGNMENTS_FIELD_NUMBER: _ClassVar[int]
    assignments: _containers.RepeatedCompositeFieldContainer[Assignment]
    def __init__(self, assignments: _Optional[_Iterable[_Union[Assignment, _Mapping]]] = ...) -> None: ...

class Hello(_message.Message):
    __slots__ = ("node_id", "hostname", "capabilities", "tasks", "agent_version", "labels", "accepts_assignment_batches", "rendezvous_address", "rendezvous_port", "peer_port", "held_models", "samples_profiling")
    class LabelsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    HOSTNAME_FIELD_NUMBER: _ClassVar[int]
    CAPABILITIES_FIELD_NUMBER: _ClassVar[int]
    TASKS_FIELD_NUMBER: _ClassVar[int]
    AGENT_VERSION_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    ACCEPTS_ASSIGNMENT_BATCHES_FIELD_NUMBER: _ClassVar[int]
    RENDEZVOUS_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    RENDEZVOUS_PORT_FIELD_NUMBER: _ClassVar[int]
    PEER_PORT_FIELD_NUMBER: _ClassVar[int]
    HELD_MODELS_FIELD_NUMBER: _ClassVar[int]
    SAMPLES_PROFILING_FIELD_NUMBER: _ClassVar[int]
    node_id: str
    hostname: str
    capabilities: _node_pb2.Capabilities
    tasks: _containers.RepeatedCompositeFieldContainer[TaskAttempt]
    agent_version: str
    labels: _containers.ScalarMap[str, str]
    accepts_assignment_batches: bool
    rendezvous_address: str
    rendezvous_port: int
    peer_port: int
    held_models: _containers.RepeatedCompositeFieldContainer[HeldModel]
    samples_profiling: bool
    def __init__(self, node_id: _Optional[str] = ..., hostname: _Optional[str] = ..., capabilities: _Optional[_Union[_node_pb2.Capabilities, _Mapping]] = ..., tasks: _Optional[_Iterable[_Union[TaskAttempt, _Mapping]]] = ..., agent_version: _Optional[str] = ..., labels: _Optional[_Mapping[str, str]] = ..., accepts_assignment_batches: _Optional[bool] = ..., rendezvous_address: _Optional[str] = ..., rendezvous_port: _Optional[int] = ..., peer_port: _Optional[int] = ..., held_models: _Optional[_Iterable[_Union[HeldModel, _Mapping]]] = ..., samples_profiling: _Optional[bool] = ...) -> None: ...

class HeldModel(_message.Message):
    __slots__ = ("model", "device", "pool")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    DEVICE_FIELD_NUMBER: _ClassVar[int]
    POOL_FIELD_NUMBER: _ClassVar[int]
    model: str
    device: str
    pool: _task_pb2.StoragePool
    def __init__(self, model: _Optional[str] = ..., device: _Optional[str] = ..., pool: _Optional[_Union[_task_pb2.StoragePool, str]] = ...) -> None: ...

class TaskAttempt(_message.Message):
    __slots__ = ("task_id", "attempt", "state")
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    task_id: str
    attempt: int
    state: _task_pb2.TaskState
    def __init__(self, task_id: _Optional[str] = ..., attempt: _Optional[int] = ..., state: _Optional[_Union[_task_pb2.TaskState, str]] = ...) -> None: ...

class Welcome(_message.Message):
    __slots__ = ("heartbeat_interval_ms", "heartbeat_ttl_ms", "reattached", "superseded", "accepts_report_batches", "peer_ticket_key")
    HEARTBEAT_INTERVAL_MS_FIELD_NUMBER: _ClassVar[int]
    HEARTBEAT_TTL_MS_FIELD_NUMBER: _ClassVar[int]
    REATTACHED_FIELD_NUMBER: _ClassVar[int]
    SUPERSEDED_FIELD_NUMBER: _ClassVar[int]
    ACCEPTS_REPORT_BATCHES_FIELD_NUMBER: _ClassVar[int]
    PEER_TICKET_KEY_FIELD_NUMBER: _ClassVar[int]
    heartbeat_interval_ms: int
    heartbeat_ttl_ms: int
    reattached: _containers.RepeatedCompositeFieldContainer[TaskAttempt]
    superseded: _containers.RepeatedCompositeFieldContainer[TaskAttempt]
    accepts_report_batches: bool
    peer_ticket_key: bytes
    def __init__(self, heartbeat_interval_ms: _Optional[int] = ..., heartbeat_ttl_ms: _Optional[int] = ..., reattached: _Optional[_Iterable[_Union[TaskAttempt, _Mapping]]] = ..., superseded: _Optional[_Iterable[_Union[TaskAttempt, _Mapping]]] = ..., accepts_report_batches: _Optional[bool] = ..., peer_ticket_key: _Optional[bytes] = ...) -> None: ...

class Heartbeat(_message.Message):
    __slots__ = ("usage",)
    USAGE_FIELD_NUMBER: _ClassVar[int]
    usage: _node_pb2.NodeUsage
    def __init__(self, usage: _Optional[_Union[_node_pb2.NodeUsage, _Mapping]] = ...) -> None: ...

class TaskUpdate(_message.Message):
    __slots__ = ("seq", "task_id", "attempt", "state", "progress", "metric", "result", "reason", "time", "artifacts")
    SEQ_FIELD_NUMBER: _ClassVar[int]
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    METRIC_FIELD_NUMBER: _ClassVar[int]
    RESULT_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    TIME_FIELD_NUMBER: _ClassVar[int]
    ARTIFACTS_FIELD_NUMBER: _ClassVar[int]
    seq: int
    task_id: str
    attempt: int
    state: _task_pb2.TaskState
    progress: float
    metric: _task_pb2.MetricPoint
    result: _task_pb2.TaskResult
    reason: str
    time: _timestamp_pb2.Timestamp
    artifacts: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, seq: _Optional[int] = ..., task_id: _Optional[str] = ..., attempt: _Optional[int] = ..., state: _Optional[_Union[_task_pb2.TaskState, str]] = ..., progress: _Optional[float] = ..., metric: _Optional[_Union[_task_pb2.MetricPoint, _Mapping]] = ..., result: _Optional[_Union[_task_pb2.TaskResult, _Mapping]] = ..., reason: _Optional[str] = ..., time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., artifacts: _Optional[_Iterable[str]] = ...) -> None: ...

class TaskLogBatch(_message.Message):
    __slots__ = ("seq", "task_id", "attempt", "lines")
    SEQ_FIELD_NUMBER: _ClassVar[int]
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    LINES_FIELD_NUMBER: _ClassVar[int]
    seq: int
    task_id: str
    attempt: int
    lines: _containers.RepeatedCompositeFieldContainer[_task_pb2.LogLine]
    def __init__(self, seq: _Optional[int] = ..., task_id: _Optional[str] = ..., attempt: _Optional[int] = ..., lines: _Optional[_Iterable[_Union[_task_pb2.LogLine, _Mapping]]] = ...) -> None: ...

class Assignment(_message.Message):
    __slots__ = ("task", "attempt", "gpu_indices", "rank", "world_size", "master_addr", "master_port", "peer_source")
    TASK_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    GPU_INDICES_FIELD_NUMBER: _ClassVar[int]
    RANK_FIELD_NUMBER: _ClassVar[int]
    WORLD_SIZE_FIELD_NUMBER: _ClassVar[int]
    MASTER_ADDR_FIELD_NUMBER: _ClassVar[int]
    MASTER_PORT_FIELD_NUMBER: _ClassVar[int]
    PEER_SOURCE_FIELD_NUMBER: _ClassVar[int]
    task: _task_pb2.Task
    attempt: int
    gpu_indices: _containers.RepeatedScalarFieldContainer[int]
    rank: int
    world_size: int
    master_addr: str
    master_port: int
    peer_source: PeerSource
    def __init__(self, task: _Optional[_Union[_task_pb2.Task, _Mapping]] = ..., attempt: _Optional[int] = ..., gpu_indices: _Optional[_Iterable[int]] = ..., rank: _Optional[int] = ..., world_size: _Optional[int] = ..., master_addr: _Optional[str] = ..., master_port: _Optional[int] = ..., peer_source: _Optional[_Union[PeerSource, _Mapping]] = ...) -> None: ...

class PeerSource(_message.Message):
    __slots__ = ("address", "ticket")
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    TICKET_FIELD_NUMBER: _ClassVar[int]
    address: str
    ticket: str
    def __init__(self, address: _Optional[str] = ..., ticket: _Optional[str] = ...) -> None: ...

class TaskControl(_message.Message):
    __slots__ = ("task_id", "attempt", "action")
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    task_id: str
    attempt: int
    action: TaskAction
    def __init__(self, task_id: _Optional[str] = ..., attempt: _Optional[int] = ..., action: _Optional[_Union[TaskAction, str]] = ...) -> None: ...

class Ack(_message.Message):
    __slots__ = ("seq",)
    SEQ_FIELD_NUMBER: _ClassVar[int]
    seq: int
    def __init__(self, seq: _Optional[int] = ...) -> None: ...

class FetchDatasetRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class FetchDatasetResponse(_message.Message):
    __slots__ = ("chunk", "sha256", "format")
    CHUNK_FIELD_NUMBER: _ClassVar[int]
    SHA256_FIELD_NUMBER: _ClassVar[int]
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    chunk: bytes
    sha256: str
    format: str
    def __init__(self, chunk: _Optional[bytes] = ..., sha256: _Optional[str] = ..., format: _Optional[str] = ...) -> None: ...

class FetchModelRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class FetchModelResponse(_message.Message):
    __slots__ = ("chunk", "sha256")
    CHUNK_FIELD_NUMBER: _ClassVar[int]
    SHA256_FIELD_NUMBER: _ClassVar[int]
    chunk: bytes
    sha256: str
    def __init__(self, chunk: _Optional[bytes] = ..., sha256: _Optional[str] = ...) -> None: ...

class UploadArtifactRequest(_message.Message):
    __slots__ = ("header", "chunk")
    HEADER_FIELD_NUMBER: _ClassVar[int]
    CHUNK_FIELD_NUMBER: _ClassVar[int]
    header: ArtifactHeader
    chunk: bytes
    def __init__(self, header: _Optional[_Union[ArtifactHeader, _Mapping]] = ..., chunk: _Optional[bytes] = ...) -> None: ...

class ArtifactHeader(_message.Message):
    __slots__ = ("task_id", "attempt", "file_name")
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    FILE_NAME_FIELD_NUMBER: _ClassVar[int]
    task_id: str
    attempt: int
    file_name: str
    def __init__(self, task_id: _Optional[str] = ..., attempt: _Optional[int] = ..., file_name: _Optional[str] = ...) -> None: ...

class UploadArtifactResponse(_message.Message):
    __slots__ = ("artifact",)
    ARTIFACT_FIELD_NUMBER: _ClassVar[int]
    artifact: _task_pb2.Artifact
    def __init__(self, artifact: _Optional[_Union[_task_pb2.Artifact, _Mapping]] = ...) -> None: ...

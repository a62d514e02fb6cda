from aifarm.options.v1 import auth_options_pb2 as _auth_options_pb2
from aifarm.options.v1 import error_options_pb2 as _error_options_pb2
from aifarm.options.v1 import http_options_pb2 as _http_options_pb2
from google.api import annotations_pb2 as _annotations_pb2
from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class CreateClientGroupRequest(_message.Message):
    __slots__ = ("benchmark_id", "num_clients", "time_limit", "server_addr")
    BENCHMARK_ID_FIELD_NUMBER: _ClassVar[int]
    NUM_CLIENTS_FIELD_NUMBER: _ClassVar[int]
    TIME_LIMIT_FIELD_NUMBER: _ClassVar[int]
    SERVER_ADDR_FIELD_NUMBER: _ClassVar[int]
    benchmark_id: int
    num_clients: int
    time_limit: int
    server_addr: str
    def __init__(self, benchmark_id: _Optional[int] = ..., num_clients: _Optional[int] = ..., time_limit: _Optional[int] = ..., server_addr: _Optional[str] = ...) -> None: ...

class CreateClientGroupResponse(_message.Message):
    __slots__ = ("status", "benchmark_id", "num_clients", "job_id")
    STATUS_FIELD_NUMBER: _ClassVar[int]
    BENCHMARK_ID_FIELD_NUMBER: _ClassVar[int]
    NUM_CLIENTS_FIELD_NUMBER: _ClassVar[int]
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    status: str
    benchmark_id: int
    num_clients: int
    job_id: str
    def __init__(self, status: _Optional[str] = ..., benchmark_id: _Optional[int] = ..., num_clients: _Optional[int] = ..., job_id: _Optional[str] = ...) -> None: ...

class GetClientGroupRequest(_message.Message):
    __slots__ = ("benchmark_id",)
    BENCHMARK_ID_FIELD_NUMBER: _ClassVar[int]
    benchmark_id: int
    def __init__(self, benchmark_id: _Optional[int] = ...) -> None: ...

class GetClientGroupResponse(_message.Message):
    __slots__ = ("benchmark_id", "info")
    BENCHMARK_ID_FIELD_NUMBER: _ClassVar[int]
    INFO_FIELD_NUMBER: _ClassVar[int]
    benchmark_id: int
    info: ClientGroupInfo
    def __init__(self, benchmark_id: _Optional[int] = ..., info: _Optional[_Union[ClientGroupInfo, _Mapping]] = ...) -> None: ...

class ClientGroupInfo(_message.Message):
    __slots__ = ("num_clients", "client_address", "created_at", "client_addresses", "time_limit", "state", "state_reason", "job_id", "server_addr", "figures")
    NUM_CLIENTS_FIELD_NUMBER: _ClassVar[int]
    CLIENT_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    CLIENT_ADDRESSES_FIELD_NUMBER: _ClassVar[int]
    TIME_LIMIT_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    STATE_REASON_FIELD_NUMBER: _ClassVar[int]
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    SERVER_ADDR_FIELD_NUMBER: _ClassVar[int]
    FIGURES_FIELD_NUMBER: _ClassVar[int]
    num_clients: int
    client_address: str
    created_at: float
    client_addresses: _containers.RepeatedScalarFieldContainer[str]
    time_limit: int
    state: str
    state_reason: str
    job_id: str
    server_addr: str
    figures: _struct_pb2.Struct
    def __init__(self, num_clients: _Optional[int] = ..., client_address: _Optional[str] = ..., created_at: _Optional[float] = ..., client_addresses: _Optional[_Iterable[str]] = ..., time_limit: _Optional[int] = ..., state: _Optional[str] = ..., state_reason: _Optional[str] = ..., job_id: _Optional[str] = ..., server_addr: _Optional[str] = ..., figures: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ...) -> None: ...

class DeleteClientGroupRequest(_message.Message):
    __slots__ = ("benchmark_id",)
    BENCHMARK_ID_FIELD_NUMBER: _ClassVar[int]
    benchmark_id: int
    def __init__(self, benchmark_id: _Optional[int] = ...) -> None: ...

class DeleteClientGroupResponse(_message.Message):
    __slots__ = ("status", "benchmark_id")
    STATUS_FIELD_NUMBER: _ClassVar[int]
    BENCHMARK_ID_FIELD_NUMBER: _ClassVar[int]
    status: str
    benchmark_id: int
    def __init__(self, status: _Optional[str] = ..., benchmark_id: _Optional[int] = ...) -> None: ...

class RunClientGroupRequest(_message.Message):
    __slots__ = ("benchmark_id", "options")
    BENCHMARK_ID_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    benchmark_id: int
    options: _struct_pb2.Struct
    def __init__(self, benchmark_id: _Optional[int] = ..., options: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ...) -> None: ...

class RunClientGroupResponse(_message.Message):
    __slots__ = ("status", "benchmark_id", "results")
    STATUS_FIELD_NUMBER: _ClassVar[int]
    BENCHMARK_ID_FIELD_NUMBER: _ClassVar[int]
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    status: str
    benchmark_id: int
    results: _containers.RepeatedCompositeFieldContainer[RunResult]
    def __init__(self, status: _Optional[str] = ..., benchmark_id: _Optional[int] = ..., results: _Optional[_Iterable[_Union[RunResult, _Mapping]]] = ...) -> None: ...

class RunResult(_message.Message):
    __slots__ = ("client_process", "status_code", "body")
    CLIENT_PROCESS_FIELD_NUMBER: _ClassVar[int]
    STATUS_CODE_FIELD_NUMBER: _ClassVar[int]
    BODY_FIELD_NUMBER: _ClassVar[int]
    client_process: str
    status_code: int
    body: str
    def __init__(self, client_process: _Optional[str] = ..., status_code: _Optional[int] = ..., body: _Optional[str] = ...) -> None: ...

class ConnectClientRequest(_message.Message):
    __slots__ = ("benchmark_id", "client_address")
    BENCHMARK_ID_FIELD_NUMBER: _ClassVar[int]
    CLIENT_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    benchmark_id: int
    client_address: str
    def __init__(self, benchmark_id: _Optional[int] = ..., client_address: _Optional[str] = ...) -> None: ...

class ConnectClientResponse(_message.Message):
    __slots__ = ("status", "benchmark_id", "client_address")
    STATUS_FIELD_NUMBER: _ClassVar[int]
    BENCHMARK_ID_FIELD_NUMBER: _ClassVar[int]
    CLIENT_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    status: str
    benchmark_id: int
    client_address: str
    def __init__(self, status: _Optional[str] = ..., benchmark_id: _Optional[int] = ..., client_address: _Optional[str] = ...) -> None: ...

class ReportClientFiguresRequest(_message.Message):
    __slots__ = ("benchmark_id", "client_address", "figures")
    BENCHMARK_ID_FIELD_NUMBER: _ClassVar[int]
    CLIENT_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    FIGURES_FIELD_NUMBER: _ClassVar[int]
    benchmark_id: int
    client_address: str
    figures: _struct_pb2.Struct
    def __init__(self, benchmark_id: _Optional[int] = ..., client_address: _Optional[str] = ..., figures: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ...) -> None: ...

class ReportClientFiguresResponse(_message.Message):
    __slots__ = ("status",)
    STATUS_FIELD_NUMBER: _ClassVar[int]
    status: str
    def __init__(self, status: _Optional[str] = ...) -> None: ...

class AddObserverRequest(_message.Message):
    __slots__ = ("ip_address", "port", "update_preferences")
    IP_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    PORT_FIELD_NUMBER: _ClassVar[int]
    UPDATE_PREFERENCES_FIELD_NUMBER: _ClassVar[int]
    ip_address: str
    port: _struct_pb2.Value
    update_preferences: _struct_pb2.Struct
    def __init__(self, ip_address: _Optional[str] = ..., port: _Optional[_Union[_struct_pb2.Value, _Mapping]] = ..., update_preferences: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ...) -> None: ...

class AddObserverResponse(_message.Message):
    __slots__ = ("status", "detail")
    STATUS_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    status: str
    detail: str
    def __init__(self, status: _Optional[str] = ..., detail: _Optional[str] = ...) -> None: ...

import datetime

from google.api import annotations_pb2 as _annotations_pb2
from google.api import field_behavior_pb2 as _field_behavior_pb2
from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ClientGroup(_message.Message):
    __slots__ = ("name", "benchmark_id", "num_clients", "time_limit_minutes", "server_addr", "create_time", "job_id", "state", "state_reason", "client_addresses", "figures")
    class State(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        STATE_UNSPECIFIED: _ClassVar[ClientGroup.State]
        STATE_SUBMITTED: _ClassVar[ClientGroup.State]
        STATE_RUNNING: _ClassVar[ClientGroup.State]
        STATE_ENDED: _ClassVar[ClientGroup.State]
    STATE_UNSPECIFIED: ClientGroup.State
    STATE_SUBMITTED: ClientGroup.State
    STATE_RUNNING: ClientGroup.State
    STATE_ENDED: ClientGroup.State
    NAME_FIELD_NUMBER: _ClassVar[int]
    BENCHMARK_ID_FIELD_NUMBER: _ClassVar[int]
    NUM_CLIENTS_FIELD_NUMBER: _ClassVar[int]
    TIME_LIMIT_MINUTES_FIELD_NUMBER: _ClassVar[int]
    SERVER_ADDR_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    STATE_REASON_FIELD_NUMBER: _ClassVar[int]
    CLIENT_ADDRESSES_FIELD_NUMBER: _ClassVar[int]
    FIGURES_FIELD_NUMBER: _ClassVar[int]
    name: str
    benchmark_id: int
    num_clients: int
    time_limit_minutes: int
    server_addr: str
    create_time: _timestamp_pb2.Timestamp
    job_id: str
    state: ClientGroup.State
    state_reason: str
    client_addresses: _containers.RepeatedScalarFieldContainer[str]
    figures: _containers.RepeatedCompositeFieldContainer[ClientProcessFigures]
    def __init__(self, name: _Optional[str] = ..., benchmark_id: _Optional[int] = ..., num_clients: _Optional[int] = ..., time_limit_minutes: _Optional[int] = ..., server_addr: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., job_id: _Optional[str] = ..., state: _Optional[_Union[ClientGroup.State, str]] = ..., state_reason: _Optional[str] = ..., client_addresses: _Optional[_Iterable[str]] = ..., figures: _Optional[_Iterable[_Union[ClientProcessFigures, _Mapping]]] = ...) -> None: ...

class ClientProcessFigures(_message.Message):
    __slots__ = ("client_address", "figures")
    CLIENT_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    FIGURES_FIELD_NUMBER: _ClassVar[int]
    client_address: str
    figures: _struct_pb2.Struct
    def __init__(self, client_address: _Optional[str] = ..., figures: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ...) -> None: ...

class GetClientGroupRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class ListClientGroupsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListClientGroupsResponse(_message.Message):
    __slots__ = ("client_groups",)
    CLIENT_GROUPS_FIELD_NUMBER: _ClassVar[int]
    client_groups: _containers.RepeatedCompositeFieldContainer[ClientGroup]
    def __init__(self, client_groups: _Optional[_Iterable[_Union[ClientGroup, _Mapping]]] = ...) -> None: ...

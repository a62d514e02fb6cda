from aifarm.compat.gswarm.v1 import host_model_service_pb2 as _host_model_service_pb2
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

class ListServicesRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class Services(_message.Message):
    __slots__ = ("services",)
    SERVICES_FIELD_NUMBER: _ClassVar[int]
    services: _containers.RepeatedCompositeFieldContainer[Service]
    def __init__(self, services: _Optional[_Iterable[_Union[Service, _Mapping]]] = ...) -> None: ...

class Service(_message.Message):
    __slots__ = ("service_id", "model_name", "node", "device", "port", "status", "url", "created_at")
    SERVICE_ID_FIELD_NUMBER: _ClassVar[int]
    MODEL_NAME_FIELD_NUMBER: _ClassVar[int]
    NODE_FIELD_NUMBER: _ClassVar[int]
    DEVICE_FIELD_NUMBER: _ClassVar[int]
    PORT_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    URL_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    service_id: str
    model_name: str
    node: str
    device: str
    port: int
    status: str
    url: str
    created_at: str
    def __init__(self, service_id: _Optional[str] = ..., model_name: _Optional[str] = ..., node: _Optional[str] = ..., device: _Optional[str] = ..., port: _Optional[int] = ..., status: _Optional[str] = ..., url: _Optional[str] = ..., created_at: _Optional[str] = ...) -> None: ...

class DeployServiceRequest(_message.Message):
    __slots__ = ("model_name", "nodes", "config")
    MODEL_NAME_FIELD_NUMBER: _ClassVar[int]
    NODES_FIELD_NUMBER: _ClassVar[int]
    CONFIG_FIELD_NUMBER: _ClassVar[int]
    model_name: str
    nodes: _containers.RepeatedScalarFieldContainer[str]
    config: _struct_pb2.Struct
    def __init__(self, model_name: _Optional[str] = ..., nodes: _Optional[_Iterable[str]] = ..., config: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ...) -> None: ...

class StopHostServiceRequest(_message.Message):
    __slots__ = ("service_id",)
    SERVICE_ID_FIELD_NUMBER: _ClassVar[int]
    service_id: str
    def __init__(self, service_id: _Optional[str] = ...) -> None: ...

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

class HostModel(_message.Message):
    __slots__ = ("model_name", "model_type", "model_size", "locations", "services", "status", "metadata")
    class ServicesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    MODEL_NAME_FIELD_NUMBER: _ClassVar[int]
    MODEL_TYPE_FIELD_NUMBER: _ClassVar[int]
    MODEL_SIZE_FIELD_NUMBER: _ClassVar[int]
    LOCATIONS_FIELD_NUMBER: _ClassVar[int]
    SERVICES_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    model_name: str
    model_type: str
    model_size: float
    locations: _containers.RepeatedScalarFieldContainer[str]
    services: _containers.ScalarMap[str, str]
    status: str
    metadata: _struct_pb2.Struct
    def __init__(self, model_name: _Optional[str] = ..., model_type: _Optional[str] = ..., model_size: _Optional[float] = ..., locations: _Optional[_Iterable[str]] = ..., services: _Optional[_Mapping[str, str]] = ..., status: _Optional[str] = ..., metadata: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ...) -> None: ...

class ListModelsRequest(_message.Message):
    __slots__ = ("type", "location", "status", "page", "per_page")
    TYPE_FIELD_NUMBER: _ClassVar[int]
    LOCATION_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    PAGE_FIELD_NUMBER: _ClassVar[int]
    PER_PAGE_FIELD_NUMBER: _ClassVar[int]
    type: str
    location: str
    status: str
    page: int
    per_page: int
    def __init__(self, type: _Optional[str] = ..., location: _Optional[str] = ..., status: _Optional[str] = ..., page: _Optional[int] = ..., per_page: _Optional[int] = ...) -> None: ...

class ListModelsResponse(_message.Message):
    __slots__ = ("models", "total", "page", "per_page")
    MODELS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    PAGE_FIELD_NUMBER: _ClassVar[int]
    PER_PAGE_FIELD_NUMBER: _ClassVar[int]
    models: _containers.RepeatedCompositeFieldContainer[HostModel]
    total: int
    page: int
    per_page: int
    def __init__(self, models: _Optional[_Iterable[_Union[HostModel, _Mapping]]] = ..., total: _Optional[int] = ..., page: _Optional[int] = ..., per_page: _Optional[int] = ...) -> None: ...

class GetModelRequest(_message.Message):
    __slots__ = ("model_name",)
    MODEL_NAME_FIELD_NUMBER: _ClassVar[int]
    model_name: str
    def __init__(self, model_name: _Optional[str] = ...) -> None: ...

class RegisterModelRequest(_message.Message):
    __slots__ = ("model_name", "model_type", "model_size", "source_url", "metadata")
    MODEL_NAME_FIELD_NUMBER: _ClassVar[int]
    MODEL_TYPE_FIELD_NUMBER: _ClassVar[int]
    MODEL_SIZE_FIELD_NUMBER: _ClassVar[int]
    SOURCE_URL_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    model_name: str
    model_type: str
    model_size: float
    source_url: str
    metadata: _struct_pb2.Struct
    def __init__(self, model_name: _Optional[str] = ..., model_type: _Optional[str] = ..., model_size: _Optional[float] = ..., source_url: _Optional[str] = ..., metadata: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ...) -> None: ...

class DeleteModelRequest(_message.Message):
    __slots__ = ("model_name", "force")
    MODEL_NAME_FIELD_NUMBER: _ClassVar[int]
    FORCE_FIELD_NUMBER: _ClassVar[int]
    model_name: str
    force: bool
    def __init__(self, model_name: _Optional[str] = ..., force: _Optional[bool] = ...) -> None: ...

class GetModelLocationsRequest(_message.Message):
    __slots__ = ("model_name",)
    MODEL_NAME_FIELD_NUMBER: _ClassVar[int]
    model_name: str
    def __init__(self, model_name: _Optional[str] = ...) -> None: ...

class ModelLocations(_message.Message):
    __slots__ = ("model_name", "locations")
    MODEL_NAME_FIELD_NUMBER: _ClassVar[int]
    LOCATIONS_FIELD_NUMBER: _ClassVar[int]
    model_name: str
    locations: _containers.RepeatedCompositeFieldContainer[ModelLocation]
    def __init__(self, model_name: _Optional[str] = ..., locations: _Optional[_Iterable[_Union[ModelLocation, _Mapping]]] = ...) -> None: ...

class ModelLocation(_message.Message):
    __slots__ = ("device", "status")
    DEVICE_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    device: str
    status: str
    def __init__(self, device: _Optional[str] = ..., status: _Optional[str] = ...) -> None: ...

class AddLocationRequest(_message.Message):
    __slots__ = ("model_name", "device", "status")
    MODEL_NAME_FIELD_NUMBER: _ClassVar[int]
    DEVICE_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    model_name: str
    device: str
    status: str
    def __init__(self, model_name: _Optional[str] = ..., device: _Optional[str] = ..., status: _Optional[str] = ...) -> None: ...

class RemoveLocationRequest(_message.Message):
    __slots__ = ("model_name", "device")
    MODEL_NAME_FIELD_NUMBER: _ClassVar[int]
    DEVICE_FIELD_NUMBER: _ClassVar[int]
    model_name: str
    device: str
    def __init__(self, model_name: _Optional[str] = ..., device: _Optional[str] = ...) -> None: ...

class ActionResponse(_message.Message):
    __slots__ = ("success", "message", "data")
    SUCCESS_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    success: bool
    message: str
    data: _struct_pb2.Struct
    def __init__(self, success: _Optional[bool] = ..., message: _Optional[str] = ..., data: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ...) -> None: ...

from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class TrainingConfig(_message.Message):
    __slots__ = ("model_architecture", "dataset_name", "learning_rate", "batch_size", "epochs", "optimizer", "loss_function")
    MODEL_ARCHITECTURE_FIELD_NUMBER: _ClassVar[int]
    DATASET_NAME_FIELD_NUMBER: _ClassVar[int]
    LEARNING_RATE_FIELD_NUMBER: _ClassVar[int]
    BATCH_SIZE_FIELD_NUMBER: _ClassVar[int]
    EPOCHS_FIELD_NUMBER: _ClassVar[int]
    OPTIMIZER_FIELD_NUMBER: _ClassVar[int]
    LOSS_FUNCTION_FIELD_NUMBER: _ClassVar[int]
    model_architecture: str
    dataset_name: str
    learning_rate: float
    batch_size: int
    epochs: int
    optimizer: str
    loss_function: str
    def __init__(self, model_architecture: _Optional[str] = ..., dataset_name: _Optional[str] = ..., learning_rate: _Optional[float] = ..., batch_size: _Optional[int] = ..., epochs: _Optional[int] = ..., optimizer: _Optional[str] = ..., loss_function: _Optional[str] = ...) -> None: ...

class TrainingStatus(_message.Message):
    __slots__ = ("session_id", "state", "current_epoch", "total_epochs", "start_time", "end_time", "error_message")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    CURRENT_EPOCH_FIELD_NUMBER: _ClassVar[int]
    TOTAL_EPOCHS_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    ERROR_MESSAGE_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    state: str
    current_epoch: _struct_pb2.Value
    total_epochs: int
    start_time: _struct_pb2.Value
    end_time: _struct_pb2.Value
    error_message: _struct_pb2.Value
    def __init__(self, session_id: _Optional[str] = ..., state: _Optional[str] = ..., current_epoch: _Optional[_Union[_struct_pb2.Value, _Mapping]] = ..., total_epochs: _Optional[int] = ..., start_time: _Optional[_Union[_struct_pb2.Value, _Mapping]] = ..., end_time: _Optional[_Union[_struct_pb2.Value, _Mapping]] = ..., error_message: _Optional[_Union[_struct_pb2.Value, _Mapping]] = ...) -> None: ...

class TrainingMetrics(_message.Message):
    __slots__ = ("session_id", "epoch", "loss", "accuracy", "val_loss", "val_accuracy", "timestamp")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    EPOCH_FIELD_NUMBER: _ClassVar[int]
    LOSS_FIELD_NUMBER: _ClassVar[int]
    ACCURACY_FIELD_NUMBER: _ClassVar[int]
    VAL_LOSS_FIELD_NUMBER: _ClassVar[int]
    VAL_ACCURACY_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    epoch: int
    loss: float
    accuracy: float
    val_loss: float
    val_accuracy: float
    timestamp: str
    def __init__(self, session_id: _Optional[str] = ..., epoch: _Optional[int] = ..., loss: _Optional[float] = ..., accuracy: _Optional[float] = ..., val_loss: _Optional[float] = ..., val_accuracy: _Optional[float] = ..., timestamp: _Optional[str] = ...) -> None: ...

class TrainingLogEntry(_message.Message):
    __slots__ = ("session_id", "timestamp", "level", "message")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    LEVEL_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    timestamp: str
    level: str
    message: str
    def __init__(self, session_id: _Optional[str] = ..., timestamp: _Optional[str] = ..., level: _Optional[str] = ..., message: _Optional[str] = ...) -> None: ...

class TrainingSession(_message.Message):
    __slots__ = ("session_id", "config", "status", "created_at")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    CONFIG_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    config: TrainingConfig
    status: TrainingStatus
    created_at: str
    def __init__(self, session_id: _Optional[str] = ..., config: _Optional[_Union[TrainingConfig, _Mapping]] = ..., status: _Optional[_Union[TrainingStatus, _Mapping]] = ..., created_at: _Optional[str] = ...) -> None: ...

from aifarm.v1 import task_pb2 as _task_pb2
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ReadPeerModelRequest(_message.Message):
    __slots__ = ("model", "device", "task_id", "attempt", "reader_node", "ticket", "pool")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    DEVICE_FIELD_NUMBER: _ClassVar[int]
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    READER_NODE_FIELD_NUMBER: _ClassVar[int]
    TICKET_FIELD_NUMBER: _ClassVar[int]
    POOL_FIELD_NUMBER: _ClassVar[int]
    model: str
    device: str
    task_id: str
    attempt: int
    reader_node: str
    ticket: str
    pool: _task_pb2.StoragePool
    def __init__(self, model: _Optional[str] = ..., device: _Optional[str] = ..., task_id: _Optional[str] = ..., attempt: _Optional[int] = ..., reader_node: _Optional[str] = ..., ticket: _Optional[str] = ..., pool: _Optional[_Union[_task_pb2.StoragePool, str]] = ...) -> None: ...

class ReadPeerModelResponse(_message.Message):
    __slots__ = ("size_bytes", "sha256", "chunk")
    SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
    SHA256_FIELD_NUMBER: _ClassVar[int]
    CHUNK_FIELD_NUMBER: _ClassVar[int]
    size_bytes: int
    sha256: str
    chunk: bytes
    def __init__(self, size_bytes: _Optional[int] = ..., sha256: _Optional[str] = ..., chunk: _Optional[bytes] = ...) -> None: ...

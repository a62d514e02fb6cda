from google.protobuf import descriptor_pb2 as _descriptor_pb2
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Optional as _Optional

DESCRIPTOR: _descriptor.FileDescriptor
AUTH_FIELD_NUMBER: _ClassVar[int]
auth: _descriptor.FieldDescriptor

class AuthOptions(_message.Message):
    __slots__ = ("allow_unauthenticated", "agent_only", "legacy_open")
    ALLOW_UNAUTHENTICATED_FIELD_NUMBER: _ClassVar[int]
    AGENT_ONLY_FIELD_NUMBER: _ClassVar[int]
    LEGACY_OPEN_FIELD_NUMBER: _ClassVar[int]
    allow_unauthenticated: bool
    agent_only: bool
    legacy_open: str
    def __init__(self, allow_unauthenticated: _Optional[bool] = ..., agent_only: _Optional[bool] = ..., legacy_open: _Optional[str] = ...) -> None: ...

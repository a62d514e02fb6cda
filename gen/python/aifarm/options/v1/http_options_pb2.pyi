from google.protobuf import descriptor_pb2 as _descriptor_pb2
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Optional as _Optional

DESCRIPTOR: _descriptor.FileDescriptor
HTTP_RESPONSE_FIELD_NUMBER: _ClassVar[int]
http_response: _descriptor.FieldDescriptor

class HttpResponseOptions(_message.Message):
    __slots__ = ("success_code",)
    SUCCESS_CODE_FIELD_NUMBER: _ClassVar[int]
    success_code: int
    def __init__(self, success_code: _Optional[int] = ...) -> None: ...

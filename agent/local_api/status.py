"""Errors of the node-local API as gRPC status with a google.rpc.ErrorInfo reason, the same shape the
controller answers (controller.api.errors), so the gateway renders both alike."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any, TypeVar

import grpc
import structlog
from google.protobuf import any_pb2
from google.rpc import error_details_pb2, status_pb2

from agent.models.errors import ModelOperationError

log = structlog.get_logger(__name__)

DOMAIN = "aifarm.dev"
#: gswarm's error codes (agent.models.errors) as gRPC codes.
CODES = {
    "INVALID_REQUEST": grpc.StatusCode.INVALID_ARGUMENT,
    "MODEL_NOT_FOUND": grpc.StatusCode.NOT_FOUND,
    "RESOURCE_UNAVAILABLE": grpc.StatusCode.FAILED_PRECONDITION,
    "CONFLICT": grpc.StatusCode.FAILED_PRECONDITION,
    "NETWORK_ERROR": grpc.StatusCode.UNAVAILABLE,
    "TASK_FAILED": grpc.StatusCode.FAILED_PRECONDITION,
    "DEPENDENCY_FAILED": grpc.StatusCode.FAILED_PRECONDITION,
    "NOT_IMPLEMENTED": grpc.StatusCode.UNIMPLEMENTED,
}


class LocalApiError(Exception):
    def __init__(self, code: grpc.StatusCode, message: str, reason: str) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason


def status_trailer(code: grpc.StatusCode, message: str, reason: str) -> tuple[tuple[str, bytes], ...]:
    detail = any_pb2.Any()
    detail.Pack(error_details_pb2.ErrorInfo(reason=reason, domain=DOMAIN))
    status = status_pb2.Status(code=code.value[0], message=message, details=[detail])
    return (("grpc-status-details-bin", status.SerializeToString()),)


async def _abort(exc: Exception, context: grpc.aio.ServicerContext, method: str) -> None:
    if isinstance(exc, LocalApiError):
        await context.abort(exc.code, str(exc), trailing_metadata=status_trailer(exc.code, str(exc), exc.reason))
    if isinstance(exc, ModelOperationError):
        code = CODES.get(exc.code, grpc.StatusCode.INTERNAL)
        message = Exception.__str__(exc)
        await context.abort(code, message, trailing_metadata=status_trailer(code, message, exc.code))
    if isinstance(exc, grpc.aio.AioRpcError):  # the controller's answer, passed on as it came
        details = tuple((k, v) for k, v in (exc.trailing_metadata() or ()) if k == "grpc-status-details-bin")
        await context.abort(exc.code(), exc.details() or "", trailing_metadata=details)
    log.exception("unexpected error in the node-local API", method=method)
    message = f"internal error in {method}; see the agent log"
    await context.abort(grpc.StatusCode.INTERNAL, message,
                        trailing_metadata=status_trailer(grpc.StatusCode.INTERNAL, message, "INTERNAL"))  # fmt: skip


F = TypeVar("F", bound=Callable[..., Any])


def maps_errors(cls: type) -> type:
    """Wrap every RPC method of a servicer class so that its errors become a status (see module doc)."""
    for name, method in list(vars(cls).items()):
        if name[:1].isupper() and inspect.iscoroutinefunction(method):
            setattr(cls, name, _wrapped(method, f"{cls.__name__}.{name}"))
    return cls


def _wrapped(method: F, name: str) -> F:
    @functools.wraps(method)
    async def call(self: Any, request: Any, context: grpc.aio.ServicerContext) -> Any:
        try:
            return await method(self, request, context)
        except grpc.aio.AbortError:
            raise
        except Exception as exc:  # noqa: BLE001 - every error becomes a status (_abort says which)
            await _abort(exc, context, name)

    return call  # type: ignore[return-value]

"""One table from domain errors to gRPC status, applied in one place.

Every servicer class is wrapped with `maps_domain_errors`; an unexpected
exception becomes INTERNAL and is logged with the method it happened in.
"""

from __future__ import annotations

import functools
import inspect
from typing import Any, Callable, TypeVar

import grpc
import structlog
from google.protobuf import any_pb2
from google.rpc import error_details_pb2, status_pb2

from controller.domain import errors

log = structlog.get_logger(__name__)

DOMAIN = "aifarm.dev"

CODES: dict[type[errors.DomainError], grpc.StatusCode] = {
    errors.NotFound: grpc.StatusCode.NOT_FOUND,
    errors.AlreadyExists: grpc.StatusCode.ALREADY_EXISTS,
    errors.InvalidArgument: grpc.StatusCode.INVALID_ARGUMENT,
    errors.FailedPrecondition: grpc.StatusCode.FAILED_PRECONDITION,
    errors.Unauthenticated: grpc.StatusCode.UNAUTHENTICATED,
    errors.PermissionDenied: grpc.StatusCode.PERMISSION_DENIED,
    errors.ResourceExhausted: grpc.StatusCode.RESOURCE_EXHAUSTED,
    errors.Unavailable: grpc.StatusCode.UNAVAILABLE,
    errors.DeadlineExceeded: grpc.StatusCode.DEADLINE_EXCEEDED,
}


def status_trailer(code: grpc.StatusCode, message: str, reason: str, **metadata: str) -> tuple[tuple[str, bytes], ...]:
    """The `grpc-status-details-bin` trailer carrying google.rpc.Status with an ErrorInfo."""
    info = error_details_pb2.ErrorInfo(reason=reason, domain=DOMAIN, metadata=metadata)
    detail = any_pb2.Any()
    detail.Pack(info)
    status = status_pb2.Status(code=code.value[0], message=message, details=[detail])
    return (("grpc-status-details-bin", status.SerializeToString()),)


async def abort(context: grpc.aio.ServicerContext, code: grpc.StatusCode, message: str, reason: str) -> None:
    await context.abort(code, message, trailing_metadata=status_trailer(code, message, reason))


async def _abort_for(exc: Exception, context: grpc.aio.ServicerContext, method: str) -> None:
    if isinstance(exc, errors.DomainError):
        code = next(c for t, c in CODES.items() if isinstance(exc, t))
        await abort(context, code, str(exc), exc.reason)
    log.exception("unexpected error", method=method)
    await abort(context, grpc.StatusCode.INTERNAL, f"internal error in {method}; see the controller log", "INTERNAL")


F = TypeVar("F", bound=Callable[..., Any])


def _wrap(method: F, name: str) -> F:
    if inspect.isasyncgenfunction(method):

        @functools.wraps(method)
        async def stream(self: Any, request: Any, context: grpc.aio.ServicerContext) -> Any:
            try:
                async for item in method(self, request, context):
                    yield item
            except (grpc.aio.AbortError, GeneratorExit):
                raise
            except Exception as exc:  # noqa: BLE001 - mapped below
                await _abort_for(exc, context, name)

        return stream  # type: ignore[return-value]

    @functools.wraps(method)
    async def unary(self: Any, request: Any, context: grpc.aio.ServicerContext) -> Any:
        try:
            return await method(self, request, context)
        except grpc.aio.AbortError:
            raise
        except Exception as exc:  # noqa: BLE001 - mapped below
            await _abort_for(exc, context, name)

    return unary  # type: ignore[return-value]


C = TypeVar("C", bound=type)


def maps_domain_errors(cls: C) -> C:
    """Wrap every RPC method (CamelCase, defined on the class) with the error mapping."""
    for name, member in list(vars(cls).items()):
        if name[:1].isupper() and inspect.isfunction(member):
            setattr(cls, name, _wrap(member, f"{cls.__name__}.{name}"))
    return cls


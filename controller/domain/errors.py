"""The domain's one exception hierarchy. The API layer maps each to a gRPC code."""

from __future__ import annotations


class DomainError(Exception):
    """Base class; `reason` is a stable UPPER_SNAKE token for google.rpc.ErrorInfo."""

    reason = "ERROR"

    def __init__(self, message: str, *, reason: str | None = None) -> None:
        super().__init__(message)
        if reason:
            self.reason = reason


class NotFound(DomainError):
    reason = "NOT_FOUND"


class AlreadyExists(DomainError):
    reason = "ALREADY_EXISTS"


class InvalidArgument(DomainError):
    reason = "INVALID_ARGUMENT"


class FailedPrecondition(DomainError):
    reason = "FAILED_PRECONDITION"


class Unauthenticated(DomainError):
    reason = "UNAUTHENTICATED"


class PermissionDenied(DomainError):
    reason = "PERMISSION_DENIED"


class ResourceExhausted(DomainError):
    reason = "RESOURCE_EXHAUSTED"


class Unavailable(DomainError):
    """What the request needs is not there now (no node online to do it); the same request may work later."""

    reason = "UNAVAILABLE"


class DeadlineExceeded(DomainError):
    """The work was started but did not end in the time the call waits; it goes on."""

    reason = "DEADLINE_EXCEEDED"

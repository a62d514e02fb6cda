"""Why a model operation failed, with gswarm's error code (seeds/002, Error Codes)."""

from __future__ import annotations


class ModelOperationError(Exception):
    """`code`: RESOURCE_UNAVAILABLE, MODEL_NOT_FOUND, NETWORK_ERROR, TASK_FAILED, INVALID_REQUEST, CONFLICT."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code

    def __str__(self) -> str:
        # The code leads the task's error text, where gswarm's queue reads it back (queue_shapes.error_code).
        return f"{self.code}: {super().__str__()}"

"""Checking the node-local API's request fields, with gswarm's INVALID_REQUEST for what is wrong."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from typing import TypeVar

import grpc

from agent.local_api.status import LocalApiError
from aifarm.v1 import task_pb2
from taskspec.errors import SpecError

T = TypeVar("T")
PRIORITIES = {p: task_pb2.TaskPriority.Value(f"TASK_PRIORITY_{p.upper()}") for p in ("critical", "high", "normal", "low")}


def invalid(message: str) -> LocalApiError:
    return LocalApiError(grpc.StatusCode.INVALID_ARGUMENT, message, "INVALID_REQUEST")


def checked(check: Callable[..., T], *args: object) -> T:
    """`check(*args)`, its SpecError an INVALID_REQUEST."""
    try:
        return check(*args)
    except SpecError as exc:
        raise invalid(str(exc)) from None


def priority(value: str) -> int:
    if value.lower() not in PRIORITIES and value:
        raise invalid(f"priority {value!r} is not one of {', '.join(PRIORITIES)}")
    return PRIORITIES[value.lower() or "normal"]


def task_id(*parts: str) -> str:
    """An id as gswarm's look ("download-llama-7b-1234"), unique, within the farm's id rules."""
    stem = "-".join(re.sub(r"[^A-Za-z0-9_-]", "-", part)[:24] for part in parts)
    return f"{stem}-{uuid.uuid4().hex[:8]}"

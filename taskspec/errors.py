"""The errors of a task's spec or data; their messages are meant for the user as they are."""

from __future__ import annotations


class WorkError(Exception):
    """A task cannot run as given, for a reason worth telling the user as is."""


class SpecError(WorkError, ValueError):
    """The spec is invalid: the message names the field and its allowed values."""


class DatasetError(WorkError, ValueError):
    """A dataset file cannot be used for training: the message says why."""

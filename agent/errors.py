"""The agent's errors: one base class, and the few kinds the agent tells apart.

`AttemptError` and its subclasses end a task attempt with their message shown to
the user as is, so they also root on `taskspec.errors.WorkError` (as `SpecError`
and `DatasetError` do on the spec's side). The others concern the node itself.
"""

from __future__ import annotations

from taskspec.errors import WorkError


class AgentError(Exception):
    """Base of every error the agent raises on purpose."""


class LinkError(AgentError):
    """The stream to the controller cannot go on (no welcome, or the controller closed it)."""


class TransferError(AgentError, OSError):
    """A file did not arrive intact from the controller (a dataset with the wrong sha256)."""


class AttemptError(AgentError, WorkError):
    """A task attempt cannot run as given; the message says why, for the user."""


class UnsupportedTask(AttemptError, ValueError):
    """This agent has no runner for the task's kind."""


class RequirementsError(AttemptError):
    """A script's requirements could not be installed; the message says why."""


class TrainingError(AttemptError):
    """A training run cannot go on (CUDA missing, a model that cannot take the data, ...)."""

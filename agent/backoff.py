"""Reconnect delays: exponential backoff with full jitter, reset by a stream that lived."""

from __future__ import annotations

import random

#: A stream that stayed up this long was healthy: the next failure starts the backoff over.
HEALTHY_STREAM_SECONDS = 30.0


class Backoff:
    """The delay before each reconnect: uniform in [0, min(cap, initial * 2^failures)].

    Full jitter spreads a farm's agents out when a controller comes back, instead of
    having them all dial at once.
    """

    def __init__(self, initial: float, maximum: float, rng: random.Random | None = None) -> None:
        self.initial = initial
        self.maximum = maximum
        #: The cap in force: lowered once a welcome says how soon a silent node is lost.
        self.cap = maximum
        self.failures = 0
        self._rng = rng or random.Random()

    def fit_ttl(self, ttl_seconds: float) -> None:
        """Retry several times within the node's TTL (the controller's restart grace is meant
        to be no shorter), or its running work is requeued while the agent sleeps."""
        if ttl_seconds > 0:
            self.cap = min(self.maximum, max(self.initial, ttl_seconds / 4))
        else:
            self.cap = self.maximum

    def next_delay(self, stream_lived_seconds: float) -> float:
        """The delay after a stream that lived `stream_lived_seconds` (0 if it never came up)."""
        self.failures = 0 if stream_lived_seconds > HEALTHY_STREAM_SECONDS else self.failures + 1
        return self._rng.uniform(0, min(self.cap, self.initial * 2 ** min(self.failures, 16)))

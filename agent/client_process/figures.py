"""A run's figures: counts, latency percentiles and throughput, as pushed and reported."""

from __future__ import annotations

import statistics
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any


def _latency_summary(latencies_ms: list[float]) -> dict[str, float]:
    """mean, p50, p95, p99 and max; zeros before the first answer."""
    if not latencies_ms:
        return {"mean": 0.0, "p50": 0.0, "p95": 0.0, "p99": 0.0, "max": 0.0}
    if len(latencies_ms) == 1:  # statistics.quantiles wants two points (before Python 3.13)
        only = latencies_ms[0]
        return {"mean": only, "p50": only, "p95": only, "p99": only, "max": only}
    # "inclusive" interpolates between observed values, so every percentile is <= max.
    cuts = statistics.quantiles(latencies_ms, n=100, method="inclusive")
    return {"mean": statistics.fmean(latencies_ms), "p50": cuts[49], "p95": cuts[94], "p99": cuts[98],
            "max": max(latencies_ms)}  # fmt: skip


@dataclass
class LoadFigures:
    """What one run has measured so far; the load clients add to it as answers arrive.

    Latencies are kept whole (a list of floats) so that percentiles are exact: a few
    megabytes for a million requests, which is what one client process sends.
    """

    requests: int = 0
    errors: int = 0
    status_codes: Counter[int] = field(default_factory=Counter)
    latencies_ms: list[float] = field(default_factory=list)
    started_at: float = 0.0
    ended_at: float = 0.0
    running: bool = False

    @classmethod
    def started(cls) -> LoadFigures:
        return cls(started_at=time.time(), running=True)

    def add_answer(self, status: int, latency_ms: float) -> None:
        self.requests += 1
        self.status_codes[status] += 1
        self.latencies_ms.append(latency_ms)
        if not 200 <= status < 300:
            self.errors += 1

    def add_failure(self) -> None:
        """A request that got no answer (refused, reset, timed out): an error without a code."""
        self.requests += 1
        self.errors += 1

    def end(self) -> None:
        self.ended_at = time.time()
        self.running = False

    def to_json(self) -> dict[str, Any]:
        elapsed = (self.ended_at or time.time()) - self.started_at if self.started_at else 0.0
        return {
            "requests": self.requests,
            "errors": self.errors,
            "status_codes": {str(code): n for code, n in sorted(self.status_codes.items())},
            "latency_ms": _latency_summary(self.latencies_ms),
            "throughput_rps": self.requests / elapsed if elapsed > 0 else 0.0,
            "started_at": self.started_at,
            "ended_at": self.ended_at,
            "running": self.running,
        }

"""``GET /metrics``: the process's load figures in Prometheus text exposition."""

from __future__ import annotations

from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

#: Down to a millisecond: a target on the same network answers in a few.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


@dataclass
class LoadMetrics:
    """One registry per process (not prometheus_client's global one), so that tests and
    several processes in one interpreter never share counters."""

    benchmark_id: int
    registry: CollectorRegistry = field(default_factory=lambda: CollectorRegistry(auto_describe=True))

    def __post_init__(self) -> None:
        label = str(self.benchmark_id)
        requests = Counter("aifactory_client_requests", "Requests the load clients sent, by outcome.",
                           ["benchmark_id", "outcome"], registry=self.registry)  # fmt: skip
        latency = Histogram("aifactory_client_request_latency_seconds", "Time to a whole answer from the target.",
                            ["benchmark_id"], buckets=LATENCY_BUCKETS, registry=self.registry)  # fmt: skip
        running = Gauge("aifactory_client_running", "1 while a run is going.", ["benchmark_id"],
                        registry=self.registry)  # fmt: skip
        # Bound once: both outcomes are exported from the start (at 0), not only once seen.
        self._ok = requests.labels(label, "ok")
        self._error = requests.labels(label, "error")
        self._latency = latency.labels(label)
        self._running = running.labels(label)

    def observe(self, ok: bool, latency_seconds: float | None) -> None:
        (self._ok if ok else self._error).inc()
        if latency_seconds is not None:
            self._latency.observe(latency_seconds)

    def set_running(self, running: bool) -> None:
        self._running.set(1 if running else 0)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)

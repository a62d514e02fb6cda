"""Reconnect delays, without I/O: exponential, capped, fully jittered, reset by a healthy stream."""

from __future__ import annotations

import random

from agent.backoff import HEALTHY_STREAM_SECONDS, Backoff


class _Top(random.Random):
    """Jitter that always picks the top of its range, so the bound itself is visible."""

    def uniform(self, a: float, b: float) -> float:
        return b


def test_delays_double_up_to_the_cap() -> None:
    backoff = Backoff(0.5, 4.0, _Top())
    assert [backoff.next_delay(0) for _ in range(6)] == [1.0, 2.0, 4.0, 4.0, 4.0, 4.0]


def test_jitter_stays_within_the_bound_and_follows_the_generator() -> None:
    backoff, same = Backoff(0.5, 30.0, random.Random(7)), random.Random(7)
    for failures in range(1, 12):
        delay = backoff.next_delay(0)
        assert delay == same.uniform(0, min(30.0, 0.5 * 2**failures))
        assert 0 <= delay <= min(30.0, 0.5 * 2**failures)


def test_a_stream_that_lived_starts_the_backoff_over() -> None:
    backoff = Backoff(0.5, 30.0, _Top())
    for _ in range(4):
        backoff.next_delay(1.0)
    assert backoff.next_delay(HEALTHY_STREAM_SECONDS + 1) == 0.5
    assert backoff.next_delay(0) == 1.0


def test_the_welcomes_ttl_lowers_the_cap_to_a_quarter_of_it() -> None:
    backoff = Backoff(0.5, 30.0, _Top())
    backoff.fit_ttl(10.0)
    assert [backoff.next_delay(0) for _ in range(4)] == [1.0, 2.0, 2.5, 2.5]
    backoff.fit_ttl(1.0)  # never below the first delay
    assert backoff.cap == 0.5
    backoff.fit_ttl(0)  # no TTL given: the configured maximum
    assert backoff.cap == 30.0

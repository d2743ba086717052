"""The circuit breaker: opens after failures in a row, lets one probe through after the cooldown, closes on success."""

from __future__ import annotations

import pytest

from core.circuit_breaker import CircuitBreaker
from core.errors import CircuitOpen, LeadRelayError


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_it_opens_after_the_threshold_of_failures_in_a_row_and_says_when_to_come_back():
    clock = Clock()
    breaker = CircuitBreaker(threshold=3, cooldown=30.0, clock=clock)
    for _ in range(2):
        breaker.before_call()
        breaker.record(False)
    assert not breaker.is_open
    breaker.before_call()
    breaker.record(False)
    assert breaker.is_open
    with pytest.raises(CircuitOpen) as caught:
        breaker.before_call()
    assert caught.value.retryable and caught.value.retry_after == 30.0
    assert isinstance(caught.value, LeadRelayError)  # a message meant for people: pages show it as it is


def test_a_success_between_failures_starts_the_count_again():
    breaker = CircuitBreaker(threshold=2, clock=Clock())
    breaker.record(False)
    breaker.record(True)
    breaker.record(False)
    assert not breaker.is_open


def test_after_the_cooldown_one_call_probes_and_the_others_still_wait():
    clock = Clock()
    breaker = CircuitBreaker(threshold=1, cooldown=30.0, clock=clock)
    breaker.record(False)
    clock.now += 29.9
    with pytest.raises(CircuitOpen):
        breaker.before_call()
    clock.now += 0.2
    breaker.before_call()  # the probe
    with pytest.raises(CircuitOpen):
        breaker.before_call()  # a second caller while the probe is out
    breaker.record(False)  # the probe failed: open for another cooldown from now
    with pytest.raises(CircuitOpen):
        breaker.before_call()
    clock.now += 30.1
    breaker.before_call()
    breaker.record(True)
    assert not breaker.is_open
    breaker.before_call()
    breaker.before_call()  # closed: every caller goes through

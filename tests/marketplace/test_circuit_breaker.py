"""The circuit breaker in front of the cache (core/circuit_breaker.py), on a clock the
test moves: it opens after a few failures in a row, lets no call through while paused, then
one probe at a time, and closes as soon as a probe succeeds."""

import pytest

from core.circuit_breaker import CircuitBreaker


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def breaker(clock: Clock) -> CircuitBreaker:
    return CircuitBreaker("test dependency", failures=3, pause_seconds=5, clock=clock)


def _fail(breaker: CircuitBreaker, times: int) -> None:
    for _ in range(times):
        assert breaker.allow()
        breaker.failed()


def test_failures_open_it_only_when_in_a_row(breaker: CircuitBreaker) -> None:
    _fail(breaker, 2)
    assert breaker.allow()
    breaker.succeeded()
    _fail(breaker, 2)

    assert breaker.allow()
    assert not breaker.is_open

    breaker.failed()

    assert breaker.is_open
    assert not breaker.allow()


def test_after_the_pause_one_probe_goes_through_and_its_success_closes_it(
    breaker: CircuitBreaker, clock: Clock
) -> None:
    _fail(breaker, 3)
    clock.now += 4.9
    assert not breaker.allow()

    clock.now += 0.2
    assert breaker.allow()  # the probe
    assert not breaker.allow()  # others still skip while it runs
    breaker.succeeded()

    assert not breaker.is_open
    assert all(breaker.allow() for _ in range(10))


def test_a_failed_probe_pauses_it_again(breaker: CircuitBreaker, clock: Clock) -> None:
    _fail(breaker, 3)
    clock.now += 5
    assert breaker.allow()
    breaker.failed()

    clock.now += 4.9
    assert not breaker.allow()
    clock.now += 0.2
    assert breaker.allow()


def test_a_probe_that_says_nothing_hands_its_turn_on(breaker: CircuitBreaker, clock: Clock) -> None:
    _fail(breaker, 3)
    clock.now += 5
    assert breaker.allow()
    breaker.abandoned()  # e.g. a value we could not encode: no word on the server's health

    assert breaker.is_open
    assert breaker.allow()


def test_a_failure_while_open_does_not_extend_the_pause(
    breaker: CircuitBreaker, clock: Clock
) -> None:
    """A call that started before the breaker opened may fail after it: the pause still ends
    when it was due."""
    _fail(breaker, 3)
    clock.now += 3
    breaker.failed()
    clock.now += 2

    assert breaker.allow()

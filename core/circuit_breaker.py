"""A circuit breaker: after a few failures in a row, stop calling a dependency for a while
and fail at once instead, so a server that accepts connections but never answers costs each
request nothing rather than a timeout per call.

Its state is one process's view of a dependency's health, so it lives in memory: processes
need not agree, and each finds out on its own within a few calls. Once the pause is over,
one call at a time is let through to probe; its success closes the breaker, its failure
starts another pause.
"""

import logging
import threading
import time
from collections.abc import Callable

logger = logging.getLogger(__name__)


class CircuitBreaker:
    def __init__(
        self,
        name: str,
        *,
        failures: int,
        pause_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if failures < 1 or pause_seconds <= 0:
            raise ValueError("a breaker opens after at least 1 failure, for a positive time")
        self.name = name
        self.failures = failures
        self.pause_seconds = pause_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._failed_in_a_row = 0
        self._opened_at: float | None = None
        self._probing = False

    @property
    def is_open(self) -> bool:
        """Whether calls are being skipped (a probe in flight included)."""
        return self._opened_at is not None

    def allow(self) -> bool:
        """Whether a call may go to the dependency now. After True, report how it went
        with `succeeded`, `failed` or `abandoned`."""
        with self._lock:
            if self._opened_at is None:
                return True
            if self._probing or self._clock() - self._opened_at < self.pause_seconds:
                return False
            self._probing = True
            return True

    def succeeded(self) -> None:
        with self._lock:
            if self._opened_at is not None:
                logger.info("%s answers again: using it", self.name)
            self._failed_in_a_row = 0
            self._opened_at = None
            self._probing = False

    def failed(self) -> None:
        with self._lock:
            self._failed_in_a_row += 1
            if self._probing or (
                self._opened_at is None and self._failed_in_a_row >= self.failures
            ):
                logger.warning(
                    "%s failed %d times in a row: skipping it for %ss",
                    self.name,
                    self._failed_in_a_row,
                    self.pause_seconds,
                )
                self._opened_at = self._clock()
                self._probing = False

    def abandoned(self) -> None:
        """The call ended without saying anything about the dependency's health (an error
        of our own): a probe's turn passes to the next caller."""
        with self._lock:
            self._probing = False

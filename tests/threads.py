"""Races for the concurrency tests: real threads, each with its own database connection."""

import threading
from collections.abc import Callable, Sequence

from django.db import connections


def all_at_once(work: Sequence[Callable[[], object]], *, timeout: float = 60) -> None:
    """Run each function in its own thread (own connection), released together by a barrier;
    fail the test if one hangs or raises (a 500 re-raised by the test client included)."""
    barrier = threading.Barrier(len(work))
    errors: list[BaseException] = []

    def run(function: Callable[[], object]) -> None:
        try:
            barrier.wait(timeout=10)
            function()
        except BaseException as exc:
            errors.append(exc)
        finally:
            connections.close_all()  # this thread's connection; lets teardown flush the DB

    threads = [threading.Thread(target=run, args=(function,)) for function in work]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=timeout)
    assert not any(thread.is_alive() for thread in threads), "a thread hung (deadlock?)"
    assert not errors, errors

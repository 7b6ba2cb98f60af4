"""Counters in Redis (rate-limit hits, the listing cache's generation) go through the client
the cache keeps: they must survive Redis dropping its connection, and a forked worker must
never read its parent's replies."""

import os
import uuid
from collections.abc import Callable, Iterator

import pytest
from django.core.cache import cache

from core.redis_cache import add_and_incr


@pytest.fixture
def counter_key(redis_cache: str) -> Iterator[str]:
    key = f"counter-test:{uuid.uuid4().hex}"
    yield key
    cache.delete(key)


def test_a_counter_goes_on_after_redis_drops_its_connection(
    counter_key: str, drop_redis_connection: Callable[[], None]
) -> None:
    assert add_and_incr(counter_key, start=0, timeout=60) == 1
    drop_redis_connection()

    assert add_and_incr(counter_key, start=0, timeout=60) == 2
    assert add_and_incr(counter_key, start=0, timeout=60, by=3) == 5


def test_a_forked_process_counts_over_its_own_connection(counter_key: str) -> None:
    """The parent has its connection before the fork, as a master that used the cache
    before forking its workers would; parent and child then count different keys at once,
    so a reply read by the wrong process would show as a number out of its sequence."""
    child_key = f"{counter_key}:child"
    assert add_and_incr(counter_key, start=0, timeout=60) == 1
    rounds = 300

    pid = os.fork()
    if pid == 0:  # the child: its exit status is the verdict, nothing else runs here
        try:
            seen = [add_and_incr(child_key, start=0, timeout=60) for _ in range(rounds)]
            os._exit(0 if seen == list(range(1, rounds + 1)) else 1)
        except BaseException:
            os._exit(2)
    seen = [add_and_incr(counter_key, start=0, timeout=60) for _ in range(rounds)]
    _, status = os.waitpid(pid, 0)

    assert seen == list(range(2, rounds + 2))
    assert os.waitstatus_to_exitcode(status) == 0
    assert cache.get(child_key) == rounds
    cache.delete(child_key)

"""Cache reads on Redis (every cached listing read makes one) go through the client the cache
keeps for its hot paths: they must answer as Django's backend does, and survive Redis
dropping their connection."""

import uuid
from collections.abc import Callable, Iterator

import pytest
from django.core.cache import cache


@pytest.fixture
def keys(redis_cache: str) -> Iterator[list[str]]:
    made = [f"read-test:{uuid.uuid4().hex}:{n}" for n in range(4)]
    yield made
    cache.delete_many(made)


def test_reads_give_back_what_was_stored_and_leave_out_what_was_not(keys: list[str]) -> None:
    stored = {keys[0]: 7, keys[1]: {"listing": [1, 2]}, keys[2]: b"\x00bytes"}
    cache.set_many(stored, timeout=60)

    assert cache.get_many(keys) == stored
    assert cache.get(keys[1]) == {"listing": [1, 2]}
    assert cache.get(keys[3]) is None
    assert cache.get(keys[3], "absent") == "absent"
    assert cache.get_many([]) == {}


def test_reads_go_on_after_redis_drops_their_connection(
    keys: list[str], drop_redis_connection: Callable[[], None]
) -> None:
    cache.set(keys[0], "before", timeout=60)
    assert cache.get_many([keys[0]]) == {keys[0]: "before"}
    drop_redis_connection()

    assert cache.get_many([keys[0], keys[1]]) == {keys[0]: "before"}
    assert cache.get(keys[0]) == "before"

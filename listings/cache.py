"""Public listing reads cached in the shared cache: the pages' data (home, browse, detail)
here, the API's whole responses in listings.response_cache, both under one generation.

Entries are keyed by a generation number that every listing change bumps after its commit,
so a change is visible to the next read on every app process. Every transaction that changes
a listing takes its row lock (listings.lock_objects) or creates it, and both announce the
change here. A reader fetches the generation before it queries the database, so a result read
before a commit can only be stored under the old generation, which nobody reads any more.
Entries also expire after ENTRY_SECONDS, a bound on staleness should a bump ever be lost.

Only what everyone sees alike is cached: anonymous requests. Signed-in users may see their
own hidden listings and operators see all, so they read the database. If the cache is
unreachable, reads go to the database and the error is logged.
"""

import hashlib
import logging
import time
from collections.abc import Callable
from typing import Any

from django.core.cache import cache
from django.db import transaction

from core.redis_cache import add_and_incr, log_cache_failure

logger = logging.getLogger(__name__)

GENERATION_KEY = "listings:generation"
ENTRY_SECONDS = 60


def listings_changed() -> None:
    """Call inside the transaction that changes a listing: readers see it after the commit."""
    transaction.on_commit(_bump_generation)


def _generation_start() -> int:
    """A generation that starts at the current time in ms never repeats an old one, even
    when Redis restarts empty, so an entry left from before cannot be mistaken as new."""
    return int(time.time() * 1000)


def _bump_generation() -> None:
    try:
        add_and_incr(GENERATION_KEY, start=_generation_start(), timeout=None)
    except Exception:
        log_cache_failure(
            logger, "listing cache unavailable; entries expire within %ss", ENTRY_SECONDS
        )


def cached_public[T](name: str, compute: Callable[[], T]) -> T:
    """The public read `name` (e.g. a full path with its query), from the cache or computed
    and stored under the current generation."""
    found = lookup(name)
    if found is None:
        return compute()
    key, value = found
    if value is None:
        value = compute()
        store(key, value)
    return value


def lookup(name: str) -> tuple[str, Any] | None:
    """The entry key for `name` under the current generation and what it holds (None when
    nothing is stored yet), or None when the cache is unreachable.

    One round trip when nothing changed: the generation and the entry stored under the
    generation this process saw last are fetched together (MGET is atomic in Redis).
    """
    digest = hashlib.sha256(name.encode()).hexdigest()
    try:
        guess = _last_generation.get("value")
        found = cache.get_many([GENERATION_KEY, _entry_key(guess, digest)])
        generation = found.get(GENERATION_KEY)
        if generation is None:
            cache.add(GENERATION_KEY, _generation_start(), timeout=None)
            generation = cache.get(GENERATION_KEY)
        _last_generation["value"] = generation
        key = _entry_key(generation, digest)
        return key, found.get(key) if generation == guess else cache.get(key)
    except Exception:
        log_cache_failure(logger, "listing cache unavailable; reading the database")
        return None


def store(key: str, value: object) -> None:
    """Keep `value` under the entry key `lookup` gave."""
    try:
        cache.set(key, value, ENTRY_SECONDS)
    except Exception:
        log_cache_failure(logger, "listing cache unavailable; not stored")


def _entry_key(generation: object, digest: str) -> str:
    return f"listings:{generation}:{digest}"


# The generation this process read last: only a guess, checked against the cache every time.
_last_generation: dict[str, object] = {}


def cached_for_anonymous[T](user: Any, name: str, compute: Callable[[], T]) -> T:
    """`cached_public` for anonymous readers; signed-in ones read the database."""
    if user is not None and user.is_authenticated:
        return compute()
    return cached_public(name, compute)

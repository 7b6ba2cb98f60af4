"""Django's Redis cache backend, with its hot operations on one redis-py client per process.

Django's backend builds a new `redis.Redis` for every operation; with redis-py 6 and later
that copies some 170 response callbacks each time, most of a cached read's cost (a `get`
three to four times a plain client's; docs/benchmarks.md). So the operations on the hot paths
(`get` and `get_many`, which every cached listing read makes, and `add_and_incr`, which every
rate-limit hit and purchase makes) go through one `redis.Redis` this backend keeps for its
first server, built from the same options as Django's pool and reading values back with
Django's own RedisSerializer. Everything else is Django's. With a comma list of servers
(primary, then replicas), these reads go to the primary.

A Redis that accepts connections but never answers must not hang the app. Every operation
waits at most the socket timeouts in OPTIONS and goes through one circuit breaker per server
and process: after a few connection failures or timeouts in a row, operations fail at once
with `CacheUnavailable` for a pause, then one probes. Callers already treat any cache error
as "the cache is down" (reads go to the database, the API throttle lets requests through,
logins fail closed).
"""

import logging
import re
import sys
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import redis
from django.core.cache import cache
from django.core.cache.backends.base import DEFAULT_TIMEOUT
from django.core.cache.backends.redis import RedisCache as DjangoRedisCache
from django.core.cache.backends.redis import RedisSerializer
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from core.circuit_breaker import CircuitBreaker

# Failures in a row that open a server's breaker, and the pause before it probes again;
# OPTIONS "circuit_failures" and "circuit_pause_seconds" override them.
CIRCUIT_FAILURES = 3
CIRCUIT_PAUSE_SECONDS = 5.0


class CacheUnavailable(RedisConnectionError):
    """Raised without a round trip while the server's breaker is open. A ConnectionError,
    as the server being down would raise."""


# One breaker per server and process, shared by the cache objects Django keeps per thread.
_breakers: dict[str, CircuitBreaker] = {}
_breakers_lock = threading.Lock()


def _breaker(server: str, failures: int, pause_seconds: float) -> CircuitBreaker:
    with _breakers_lock:
        breaker = _breakers.get(server)
        if breaker is None:
            name = f"cache {server.rsplit('@', 1)[-1]}"  # never a password in the logs
            breaker = CircuitBreaker(name, failures=failures, pause_seconds=pause_seconds)
            _breakers[server] = breaker
        return breaker


def log_cache_failure(log: logging.Logger, message: str, *args: object) -> None:
    """Inside an `except` around a cache call: the error with its traceback, but only a
    debug line while the breaker is open (it logged the cause when it opened), so an outage
    costs no traceback per request."""
    if isinstance(sys.exc_info()[1], CacheUnavailable):
        log.debug(message + " (circuit open)", *args)
    else:
        log.exception(message, *args)


# One client per server URL and options, shared by the cache objects Django keeps per thread
# (redis-py's clients are thread-safe; a pool used after a fork opens new connections).
_clients: dict[tuple[str, str], redis.Redis] = {}


def _client(server: str, options: dict[str, Any]) -> redis.Redis:
    with _breakers_lock:
        key = (server, repr(sorted(options.items())))
        client = _clients.get(key)
        if client is None:
            pool = redis.ConnectionPool.from_url(server, **options)
            client = _clients[key] = redis.Redis(connection_pool=pool)
        return client


# KEYS[1] counter, ARGV[1] its first value, ARGV[2] expiry in seconds (0: none), ARGV[3]
# the increment.
ADD_AND_INCR = """
if tonumber(ARGV[2]) > 0 then
    redis.call('SET', KEYS[1], ARGV[1], 'NX', 'EX', ARGV[2])
else
    redis.call('SET', KEYS[1], ARGV[1], 'NX')
end
return redis.call('INCRBY', KEYS[1], ARGV[3])
"""


class RedisCache(DjangoRedisCache):
    def __init__(self, server: str | list[str], params: dict[str, Any]) -> None:
        options = dict(params.get("OPTIONS", {}))  # the rest goes to redis-py's pool
        failures = int(options.pop("circuit_failures", CIRCUIT_FAILURES))
        pause = float(options.pop("circuit_pause_seconds", CIRCUIT_PAUSE_SECONDS))
        super().__init__(server, {**params, "OPTIONS": options})
        servers = re.split("[;,]", server) if isinstance(server, str) else server
        if "serializer" in options:  # the hot reads below decode as Django's default does
            raise ValueError("core.redis_cache.RedisCache takes no 'serializer' option")
        # Django's backend reads these three itself; the rest are the pool's, as in Django's.
        pool_options = {
            name: value
            for name, value in options.items()
            if name not in ("pool_class", "parser_class")
        }
        self.client = _client(servers[0], pool_options)
        self.serializer = RedisSerializer()
        self._breaker = _breaker(servers[0], failures, pause)

    def _guarded[T](self, operation: Callable[..., T], *args: Any) -> T:
        """Every operation runs here: skipped at once while the breaker is open, and its
        connection failures and timeouts counted. Any other error (a reply Redis refused, a
        key we could not encode) says nothing about the server's health."""
        if not self._breaker.allow():
            raise CacheUnavailable(f"{self._breaker.name} skipped: circuit open")
        try:
            result = operation(*args)
        except (RedisConnectionError, RedisTimeoutError):
            self._breaker.failed()
            raise
        except RedisError:
            self._breaker.succeeded()  # the server answered
            raise
        except BaseException:
            self._breaker.abandoned()
            raise
        self._breaker.succeeded()
        return result

    # Django's operations through the client, each behind the breaker.

    def add(
        self, key: Any, value: Any, timeout: Any = DEFAULT_TIMEOUT, version: Any = None
    ) -> bool:
        return self._guarded(super().add, key, value, timeout, version)

    def set(
        self, key: Any, value: Any, timeout: Any = DEFAULT_TIMEOUT, version: Any = None
    ) -> None:
        self._guarded(super().set, key, value, timeout, version)

    def touch(self, key: Any, timeout: Any = DEFAULT_TIMEOUT, version: Any = None) -> bool:
        return self._guarded(super().touch, key, timeout, version)

    def delete(self, key: Any, version: int | None = None) -> bool:
        return self._guarded(super().delete, key, version)

    def has_key(self, key: Any, version: int | None = None) -> bool:
        return self._guarded(super().has_key, key, version)

    def incr(self, key: Any, delta: int = 1, version: int | None = None) -> int:
        return self._guarded(super().incr, key, delta, version)

    def set_many(
        self, data: Mapping[Any, Any], timeout: Any = DEFAULT_TIMEOUT, version: Any = None
    ) -> list[Any]:
        return self._guarded(super().set_many, data, timeout, version)

    def delete_many(self, keys: Iterable[Any], version: int | None = None) -> None:
        self._guarded(super().delete_many, keys, version)

    def clear(self) -> None:
        self._guarded(super().clear)

    # The hot operations, through the kept client (also behind the breaker).

    def add_and_incr(self, key: str, start: int, timeout: int | None, by: int = 1) -> int:
        """SET NX (with its expiry) then INCRBY, in one script: one round trip and one
        command to encode (a pipeline of the two cost a third more CPU). Django stores
        integers unpickled, so `cache.get` reads the counter back as an int.

        Every purchase bumps the listing generation through here."""
        reply = self._guarded(
            self.client.eval,
            ADD_AND_INCR,
            1,
            self.make_and_validate_key(key),
            start,
            timeout or 0,
            by,
        )
        return int(reply)

    def get(self, key: Any, default: Any = None, version: int | None = None) -> Any:
        value = self._guarded(self.client.get, self.make_and_validate_key(key, version))
        return default if value is None else self._loads(value)

    def get_many(self, keys: Iterable[Any], version: int | None = None) -> dict[Any, Any]:
        keys = list(keys)
        if not keys:
            return {}
        stored = [self.make_and_validate_key(key, version) for key in keys]
        values = self._guarded(self.client.mget, stored)
        found = zip(keys, values, strict=True)
        return {key: self._loads(value) for key, value in found if value is not None}

    def _loads(self, value: Any) -> Any:
        """A stored value as Django's client reads it back: integers as stored, the rest
        unpickled (the client is made without decode_responses, so values are bytes)."""
        return self.serializer.loads(value)


def add_and_incr(key: str, *, start: int, timeout: int | None, by: int = 1) -> int:
    """`cache.add(key, start, timeout)` then `cache.incr(key, by)`: atomic on Redis, one
    round trip with our backend; on other caches the two calls (local memory: one process)."""
    scripted = getattr(cache, "add_and_incr", None)
    if scripted is not None:
        return int(scripted(key, start, timeout, by))
    cache.add(key, start, timeout=timeout)
    return cache.incr(key, by)

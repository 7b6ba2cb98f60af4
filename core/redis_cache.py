"""Django's Redis cache backend, with one client object per connection pool.

Django's backend builds a new `redis.Redis` for every cache operation; with redis-py 6 that
copies some 170 response callbacks each time, a large share of a cached request's CPU
(docs/benchmarks.md). The client is thread-safe and the pool underneath is
the same, so keeping one changes nothing but the cost. `add_and_incr` (a rate limit hit, a
listing cache generation bump) takes one round trip instead of Django's three.

The operations on the hot paths (counters, and `get` and `get_many`, which every cached
listing read makes) go over a connection the cache object keeps for them rather than
through the client: the client's per-command layers (pool checkout with a readiness poll,
retry wrapper, metrics hooks) cost more than encoding the command and reading the reply.
That connection goes to the first server in REDIS_URL: with
one server, where Django's reads would go; with a comma list (primary, then replicas) these
reads no longer spread over the replicas, while other reads still do.

A Redis that accepts connections but never answers must not hang the app. Every operation,
over the kept connection or through the client, waits at most the socket timeouts in OPTIONS
and goes through one circuit breaker per server and process: after a few connection failures
or timeouts in a row, operations fail at once with `CacheUnavailable` for a pause, then one
probes. Callers already treat any cache error as "the cache is down" (reads go to the
database, the API throttle lets requests through, logins fail closed).
"""

import logging
import os
import sys
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from django.core.cache import cache
from django.core.cache.backends.base import DEFAULT_TIMEOUT
from django.core.cache.backends.redis import RedisCache as DjangoRedisCache
from django.core.cache.backends.redis import RedisCacheClient
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


class _ReusingClient(RedisCacheClient):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._clients: dict[bool, Any] = {}

    def get_client(self, key: Any = None, *, write: bool = False) -> Any:
        """One client for writes, one for reads. With one server (ours) both use the same
        pool; with read replicas, each process keeps reading from the replica it met first
        (Django picks one at random per operation), which still spreads processes out."""
        client = self._clients.get(write)
        if client is None:
            client = self._clients[write] = super().get_client(key, write=write)
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
    def __init__(self, server: str, params: dict[str, Any]) -> None:
        options = dict(params.get("OPTIONS", {}))  # the rest goes to redis-py's pool
        failures = int(options.pop("circuit_failures", CIRCUIT_FAILURES))
        pause = float(options.pop("circuit_pause_seconds", CIRCUIT_PAUSE_SECONDS))
        super().__init__(server, {**params, "OPTIONS": options})
        self._class = _ReusingClient
        self._kept: Any = None
        self._kept_pid: int | None = None
        self._breaker = _breaker(server, failures, pause)

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

    # Ours, over the kept connection (see `_over_kept_connection`, also behind the breaker).

    def add_and_incr(self, key: str, start: int, timeout: int | None, by: int = 1) -> int:
        """SET NX (with its expiry) then INCRBY, in one script: one round trip and one
        command to encode (a pipeline of the two cost a third more CPU). Django stores
        integers unpickled, so `cache.get` reads the counter back as an int.

        Every purchase bumps the listing generation through here."""
        reply = self._over_kept_connection(
            "EVAL", ADD_AND_INCR, 1, self.make_and_validate_key(key), start, timeout or 0, by
        )
        return int(reply)

    def get(self, key: Any, default: Any = None, version: int | None = None) -> Any:
        value = self._over_kept_connection("GET", self.make_and_validate_key(key, version))
        return default if value is None else self._loads(value)

    def get_many(self, keys: Iterable[Any], version: int | None = None) -> dict[Any, Any]:
        keys = list(keys)
        if not keys:
            return {}
        stored = [self.make_and_validate_key(key, version) for key in keys]
        values = self._over_kept_connection("MGET", *stored)
        found = zip(keys, values, strict=True)
        return {key: self._loads(value) for key, value in found if value is not None}

    def _loads(self, value: bytes) -> Any:
        """As Django's client reads a value back: integers as stored, anything else pickled."""
        return self._cache._serializer.loads(value)  # type: ignore[attr-defined]  # not in the stubs

    def _over_kept_connection(self, *command: Any) -> Any:
        return self._guarded(self._send_over_kept_connection, *command)

    def _send_over_kept_connection(self, *command: Any) -> Any:
        """One command's reply. A connection found broken is reconnected once; a command
        that ran before the connection broke may then run twice, which reads and the
        counters can take (counters only run ahead). A timeout is not retried: redis-py
        drops the connection, so a late reply is never read as another command's."""
        connection = self._kept_connection()
        try:
            connection.send_command(*command)
            return connection.read_response()
        except RedisConnectionError:
            connection.disconnect()
        connection.send_command(*command)
        return connection.read_response()

    def _kept_connection(self) -> Any:
        """Django keeps a cache object per thread, so one connection per object is one per
        thread; a process forked after making it (gunicorn's workers) makes its own."""
        if self._kept_pid != os.getpid():
            pool = self._cache.get_client(write=True).connection_pool
            self._kept = pool.connection_class(**pool.connection_kwargs)
            self._kept_pid = os.getpid()
        return self._kept


def add_and_incr(key: str, *, start: int, timeout: int | None, by: int = 1) -> int:
    """`cache.add(key, start, timeout)` then `cache.incr(key, by)`: atomic on Redis, one
    round trip with our backend; on other caches the two calls (local memory: one process)."""
    scripted = getattr(cache, "add_and_incr", None)
    if scripted is not None:
        return int(scripted(key, start, timeout, by))
    cache.add(key, start, timeout=timeout)
    return cache.incr(key, by)

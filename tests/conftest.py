import os
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from types import SimpleNamespace
from typing import Any

import pytest
import redis
from django.core.cache import cache
from django.db import connection
from pytest_httpserver import HTTPServer
from rest_framework.test import APIClient

from accounts.models import User
from core import rate_limit
from tests.factories import UserFactory, bearer_token
from tests.redis_db import redis_test_url
from tests.stripe_fake import FakeStripe

pytest_plugins = ["tests.mail_sink"]  # the mail_sink fixture


@pytest.fixture(autouse=True)
def _fresh_cache() -> Iterator[None]:
    """Login-failure counters and other cache state must not leak between tests."""
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def committed(
    django_capture_on_commit_callbacks: Callable[..., AbstractContextManager[Any]],
) -> Callable[[], AbstractContextManager[Any]]:
    """Run the block's after-commit hooks, as a real commit would (tests run in a
    transaction that never commits)."""
    return lambda: django_capture_on_commit_callbacks(execute=True)


@pytest.fixture
def redis_cache(settings: Any) -> str:
    """The shared cache on Redis, as production runs it (tests otherwise use local memory);
    its address."""
    url = redis_test_url()
    settings.CACHES = {"default": {"BACKEND": "core.redis_cache.RedisCache", "LOCATION": url}}
    return url


@pytest.fixture
def drop_redis_connection(redis_cache: str) -> Callable[[], None]:
    """Has Redis close the connection the cache's client reads and counts over, as a Redis
    restart or a proxy's idle timeout would."""

    def drop() -> None:
        redis.Redis.from_url(redis_cache).client_kill_filter(_id=cache.client.client_id())  # type: ignore[attr-defined]

    return drop


@pytest.fixture
def api() -> APIClient:
    return APIClient()


@pytest.fixture
def client_for() -> Callable[[User], APIClient]:
    """An API client authenticated as `user` with a real Bearer session."""

    def make(user: User) -> APIClient:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {bearer_token(user)}")
        return client

    return make


@pytest.fixture
def buyer(db: None) -> User:
    return UserFactory.create()


@pytest.fixture
def seller(db: None) -> User:
    return UserFactory.create()


@pytest.fixture
def sqlite_pass_only() -> None:
    """For slow tests whose outcome does not depend on the suite's database: those that start
    production-like processes on a SQLite file of their own, and the browser flows (what
    their pages do in the database is tested on both). .ci/run runs the suite on PostgreSQL
    and then on SQLite, where they would only repeat themselves; they run when the suite is
    on SQLite (a newcomer's `make test`, CI's second pass)."""
    if connection.vendor != "sqlite":
        pytest.skip("independent of the suite's database: runs in the SQLite pass")


@pytest.fixture
def require_postgres(db: None) -> None:
    """Skip on SQLite (row locks do nothing there); under .ci/run a skip would hide a gap,
    so REQUIRE_POSTGRES=1 turns it into a failure."""
    if connection.vendor == "postgresql":
        return
    message = "needs PostgreSQL (set DATABASE_URL=postgres://...)"
    if os.environ.get("REQUIRE_POSTGRES") == "1":
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture
def fake_stripe(httpserver: HTTPServer, settings: Any) -> FakeStripe:
    """The app pointed at a local Stripe stand-in through the real SDK."""
    fake = FakeStripe(server=httpserver)
    for name, value in fake.settings().items():
        setattr(settings, name, value)
    return fake


@pytest.fixture
def hold_rate_clock(monkeypatch: pytest.MonkeyPatch) -> Callable[[int], None]:
    """Hold the rate limits' clock in the middle of a fixed window of the given length, so a
    test running across a window boundary cannot see its counters reset."""

    def hold(window_seconds: int) -> None:
        now = (time.time() // window_seconds) * window_seconds + window_seconds / 2
        monkeypatch.setattr(rate_limit, "time", SimpleNamespace(time=lambda: now))

    return hold


@pytest.fixture(scope="session", autouse=True)
def _end_stray_connections(django_db_setup: None, django_db_blocker: Any) -> Iterator[None]:
    """At the end of the run, end the connections other threads left open on the test
    database (the live server's keep-alive request threads, which Django does not join), or
    PostgreSQL waits 5 s for them, then refuses to drop it."""
    yield
    if connection.vendor != "postgresql":
        return
    with django_db_blocker.unblock(), connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )

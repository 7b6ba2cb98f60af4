"""§10: /healthz says the process is up; /readyz says whether the database answers, and
whether the shared cache does (issue 14, class 3)."""

from collections.abc import Iterator
from typing import Any

import pytest
from django.test import Client

from tests.outages import database_down


def test_healthz_answers_without_touching_the_database() -> None:
    response = Client().get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@pytest.mark.django_db
def test_readyz_is_ok_when_the_database_answers() -> None:
    response = Client().get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "up", "cache": "up"}


@pytest.mark.django_db
def test_readyz_reads_the_shared_cache(redis_cache: str) -> None:
    assert Client().get("/readyz").json() == {"status": "ok", "database": "up", "cache": "up"}


@pytest.mark.django_db
def test_readyz_stays_ready_but_degraded_when_the_cache_is_down(settings: Any) -> None:
    """Without its cache the app still serves (listing reads go to the database, logins
    answer 503), and every process shares that cache: a 200 keeps them all in rotation.
    A hung cache is tests/marketplace/test_hung_redis.py."""
    settings.CACHES = {
        "default": {
            "BACKEND": "core.redis_cache.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",  # nothing listens on port 1
            "OPTIONS": settings.REDIS_CACHE_OPTIONS,
        }
    }
    response = Client().get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"status": "degraded", "database": "up", "cache": "degraded"}


@pytest.fixture
def unreachable_database(require_postgres: None) -> Iterator[None]:
    """The database unreachable for the test (PostgreSQL only)."""
    with database_down():
        yield


@pytest.mark.django_db(transaction=True)
def test_readyz_is_503_when_the_database_is_down(unreachable_database: None) -> None:
    response = Client().get("/readyz")
    assert response.status_code == 503
    assert response.json()["database"] == "down"

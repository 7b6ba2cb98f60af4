"""§10 / issue 6: API_RATE_LIMIT per session or IP, 429 with Retry-After, counted in the
shared cache so every app process sees the same count, and failing open without it."""

import os
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from accounts.models import User
from core.rate_limit import Rate, count_hit, parse_rate, window
from tests.factories import UserFactory, bearer_token

pytestmark = pytest.mark.django_db

LISTINGS = "/api/v1/listings"


@pytest.fixture
def limit(settings: Any, hold_rate_clock: Callable[[int], None]) -> Callable[[int], None]:
    hold_rate_clock(60)

    def set_limit(requests: int) -> None:
        settings.API_RATE_LIMIT = Rate(requests, 60)

    return set_limit


def test_rates_are_parsed_or_refused() -> None:
    assert parse_rate("600/min") == Rate(600, 60)
    assert parse_rate(" 5 / second ") == Rate(5, 1)
    assert parse_rate("off") is None
    for bad in ("600", "0/min", "10/fortnight", "-1/min"):
        with pytest.raises(ValueError, match="600/min"):
            parse_rate(bad)


def test_over_the_limit_the_api_answers_429_with_retry_after(limit: Callable[[int], None]) -> None:
    limit(3)
    client = APIClient(REMOTE_ADDR="203.0.113.50")

    statuses = [client.get(LISTINGS).status_code for _ in range(4)]

    assert statuses == [200, 200, 200, 429]
    refused = client.get(LISTINGS)
    assert 0 < int(refused["Retry-After"]) <= 60
    assert "throttled" in refused.json()["detail"]


def test_each_session_and_each_ip_has_its_own_count(limit: Callable[[int], None]) -> None:
    limit(2)
    user = UserFactory.create()
    first = APIClient(HTTP_AUTHORIZATION=f"Bearer {bearer_token(user)}")
    second = APIClient(HTTP_AUTHORIZATION=f"Bearer {bearer_token(user)}")
    stranger = APIClient(REMOTE_ADDR="198.51.100.9")

    assert [first.get(LISTINGS).status_code for _ in range(3)] == [200, 200, 429]
    assert second.get(LISTINGS).status_code == 200
    assert stranger.get(LISTINGS).status_code == 200


def test_the_stripe_webhook_is_never_rate_limited(limit: Callable[[int], None]) -> None:
    limit(1)
    client = APIClient()

    statuses = [client.post("/api/v1/payments/stripe/webhook").status_code for _ in range(3)]

    assert 429 not in statuses


def test_off_disables_the_limit(settings: Any) -> None:
    settings.API_RATE_LIMIT = None
    client = APIClient()

    assert {client.get(LISTINGS).status_code for _ in range(20)} == {200}


def test_without_the_cache_requests_go_through(
    limit: Callable[[int], None], settings: Any, buyer: User
) -> None:
    limit(1)
    settings.CACHES = {
        "default": {
            "BACKEND": "core.redis_cache.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",  # nothing listens there
            "OPTIONS": {"socket_connect_timeout": 0.2, "socket_timeout": 0.2},
        }
    }
    client = APIClient(HTTP_AUTHORIZATION=f"Bearer {bearer_token(buyer)}")

    assert [client.get(LISTINGS).status_code for _ in range(3)] == [200, 200, 200]


def test_processes_share_one_count_through_redis(
    limit: Callable[[int], None], redis_cache: str, redis_counted_ip: tuple[str, str]
) -> None:
    """Three other processes hit one client's counter in Redis; this process then finds the
    limit already reached for that client."""
    limit(3)
    ip, key = redis_counted_ip
    hit = (
        "import django; django.setup(); from core.rate_limit import count_hit; "
        f"print(count_hit({key!r}, 60))"
    )
    env = {**os.environ, "REDIS_URL": redis_cache}

    counts = [
        subprocess.run(  # noqa: S603 - this interpreter with a fixed script
            [sys.executable, "-c", hit], env=env, capture_output=True, text=True, check=True
        ).stdout.strip()
        for _ in range(3)
    ]

    assert counts == ["1", "2", "3"]
    assert APIClient(REMOTE_ADDR=ip).get(LISTINGS).status_code == 429


@pytest.mark.usefixtures("redis_cache")
def test_a_redis_counter_expires_with_its_window() -> None:
    key = f"api-rate:test:{uuid.uuid4().hex}"

    assert [count_hit(key, 60) for _ in range(3)] == [1, 2, 3]

    client = cache.client  # type: ignore[attr-defined]
    assert 0 < client.ttl(cache.make_and_validate_key(key)) <= 61
    cache.delete(key)


@pytest.fixture
def redis_counted_ip(redis_cache: str) -> Iterator[tuple[str, str]]:
    """Counters in Redis, and an IP no other run shares with its counter key."""
    ip = f"2001:db8::{uuid.uuid4().hex[:4]}"
    key = f"api-rate:ip:{ip}:{window(60)[0]}"
    yield ip, key
    cache.delete(key)


def test_a_process_counts_a_busy_clients_hits_a_lease_at_a_time(
    limit: Callable[[int], None], redis_counted_ip: tuple[str, str]
) -> None:
    """A limit of 1,000 a minute is counted 10 hits at a time: 25 requests, 3 round trips."""
    ip, key = redis_counted_ip
    limit(1000)
    client = APIClient(REMOTE_ADDR=ip)

    assert {client.get(LISTINGS).status_code for _ in range(25)} == {200}
    assert cache.get(key) == 30


def test_leases_never_let_a_client_past_the_limit(
    limit: Callable[[int], None], redis_counted_ip: tuple[str, str]
) -> None:
    """Other processes have counted 497 of a limit of 500: a lease of 5 holds only 3 more."""
    ip, key = redis_counted_ip
    limit(500)
    count_hit(key, 60, 497)
    client = APIClient(REMOTE_ADDR=ip)

    assert [client.get(LISTINGS).status_code for _ in range(5)] == [200, 200, 200, 429, 429]

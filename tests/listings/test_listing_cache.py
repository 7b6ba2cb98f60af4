"""§10 / issue 6: public browse and detail are served from the shared cache, and every change
that affects them (a purchase changes units left) shows on the next read after its commit."""

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import Any

import pytest
from django.core.cache import cache
from django.test import Client
from rest_framework.test import APIClient

from accounts.models import User
from audit.models import AuditAction
from listings.cache import cached_public
from listings.moderation import listing_moderate
from orders.services import order_create
from tests.factories import UserFactory, make_listing
from tests.pages import queries_for
from tests.redis_db import redis_test_url

pytestmark = pytest.mark.django_db

Committed = Callable[..., AbstractContextManager[Any]]


@pytest.fixture(params=["locmem", "redis"])
def shared_cache(request: pytest.FixtureRequest, settings: Any) -> Iterator[str]:
    """Each test runs on the process-local cache and on Redis, as production shares it."""
    if request.param == "redis":
        settings.CACHES = {
            "default": {
                "BACKEND": "core.redis_cache.RedisCache",
                "LOCATION": redis_test_url(),
            }
        }
        cache.clear()
    yield request.param
    cache.clear()


PUBLIC_READS = [
    "/",
    "/listings",
    "/listings?q=weather&ordering=price",
    "/listings/{id}",
    "/api/v1/listings",
    "/api/v1/listings?page_size=50&ordering=best_selling",
    "/api/v1/listings/{id}",
]


@pytest.mark.usefixtures("shared_cache")
@pytest.mark.parametrize("url", PUBLIC_READS)
def test_a_second_anonymous_read_makes_no_query(url: str, committed: Committed) -> None:
    with committed():
        listing = make_listing(service_name="Weather API")
        order_create(buyer=UserFactory.create(), listing_id=listing.pk, units=1)
    url = url.format(id=listing.pk)

    first = queries_for(Client(), url)

    assert first > 0
    assert queries_for(Client(), url) == 0


def test_a_purchase_shows_on_the_next_read(
    shared_cache: str, committed: Committed, buyer: User
) -> None:
    with committed():
        listing = make_listing(units=10, service_name="Weather API")
    assert APIClient().get(f"/api/v1/listings/{listing.pk}").json()["available_units"] == 10
    assert APIClient().get("/api/v1/listings").json()["results"][0]["available_units"] == 10
    assert Client().get(f"/listings/{listing.pk}").context["listing"].available_units == 10
    assert Client().get("/listings").context["page"].object_list[0].available_units == 10

    with committed():
        order_create(buyer=buyer, listing_id=listing.pk, units=3)

    assert Client().get(f"/listings/{listing.pk}").context["listing"].available_units == 7
    assert Client().get("/listings").context["page"].object_list[0].available_units == 7
    api = APIClient()
    assert api.get(f"/api/v1/listings/{listing.pk}").json()["available_units"] == 7
    assert api.get("/api/v1/listings").json()["results"][0]["available_units"] == 7


def test_a_suspension_hides_the_listing_on_the_next_read(
    shared_cache: str, committed: Committed
) -> None:
    with committed():
        listing = make_listing(service_name="Weather API")
    assert "Weather API" in Client().get("/listings").content.decode()

    with committed():
        listing_moderate(
            listing_id=listing.pk,
            action=AuditAction.LISTING_SUSPEND,
            actor=UserFactory.create(is_staff=True),
            origin=None,
        )

    assert "Weather API" not in Client().get("/listings").content.decode()
    assert Client().get(f"/listings/{listing.pk}").status_code == 404


@pytest.mark.usefixtures("shared_cache")
def test_a_new_listing_shows_on_the_next_read(committed: Committed) -> None:
    assert Client().get("/listings").context["page"].paginator.count == 0

    with committed():
        make_listing(service_name="Fresh API")

    assert "Fresh API" in Client().get("/listings").content.decode()


def test_signed_in_readers_bypass_the_cache(committed: Committed, buyer: User) -> None:
    with committed():
        make_listing()
    client = Client()
    client.force_login(buyer)
    queries_for(client, "/listings")

    assert queries_for(client, "/listings") > 0


def test_without_the_cache_reads_go_to_the_database(settings: Any) -> None:
    settings.CACHES = {
        "default": {
            "BACKEND": "core.redis_cache.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",  # nothing listens there
            "OPTIONS": {"socket_connect_timeout": 0.2, "socket_timeout": 0.2},
        }
    }
    make_listing(service_name="Weather API")

    assert cached_public("anything", lambda: 42) == 42
    assert "Weather API" in Client().get("/listings").content.decode()

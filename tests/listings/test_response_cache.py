"""Issue 6: repeated anonymous API listing reads are answered with the stored response
(listings.response_cache), which must be the response the whole stack gives, follow every
listing change, still count against the rate limit, and never be shown to signed-in readers
or to clients asking for something else."""

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

import listings.apis
from accounts.models import User
from core.rate_limit import Rate
from listings.models import Listing
from listings.services import listing_update
from orders.services import order_create
from tests.factories import bearer_token, make_listing

pytestmark = pytest.mark.django_db

Committed = Callable[..., AbstractContextManager[Any]]
LISTINGS = "/api/v1/listings"


@pytest.fixture
def listing(committed: Committed) -> Listing:
    with committed():
        return make_listing(units=10, service_name="Weather API")


def _without_request_id(headers: Any) -> dict[str, str]:
    return {name: value for name, value in headers.items() if name != "X-Request-ID"}


@pytest.mark.parametrize("path", [LISTINGS + "?page_size=50&ordering=price", LISTINGS + "/{id}"])
def test_a_stored_response_is_the_one_the_whole_stack_gave(
    listing: Listing, path: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = path.format(id=listing.pk)
    first = Client().get(url)

    def view_ran(*args: object) -> None:
        raise AssertionError("the view ran: the response was not answered from the store")

    monkeypatch.setattr(listings.apis, "public_response", view_ran)
    again = Client().get(url)

    assert again.status_code == first.status_code == 200
    assert again.content == first.content
    assert _without_request_id(again.headers) == _without_request_id(first.headers)
    assert "Content-Security-Policy" in again.headers
    assert again["X-Request-ID"] != first["X-Request-ID"]  # the log middleware still runs


def test_a_purchase_changes_the_next_stored_read(
    listing: Listing, committed: Committed, buyer: User
) -> None:
    url = f"{LISTINGS}/{listing.pk}"
    assert Client().get(url).json()["available_units"] == 10
    assert Client().get(url).json()["available_units"] == 10

    with committed():
        order_create(buyer=buyer, listing_id=listing.pk, units=4)

    assert Client().get(url).json()["available_units"] == 6


def test_signed_in_sellers_still_see_their_paused_listing(
    listing: Listing, committed: Committed
) -> None:
    Client().get(LISTINGS)  # anonymous: stored
    with committed():
        listing_update(seller=listing.seller, listing_id=listing.pk, changes={"status": "paused"})
    assert Client().get(LISTINGS).json()["count"] == 0
    assert Client().get(LISTINGS).json()["count"] == 0  # stored under the new generation

    by_token = APIClient(HTTP_AUTHORIZATION=f"Bearer {bearer_token(listing.seller)}")
    by_cookie = Client()
    by_cookie.force_login(listing.seller)

    for client in (by_token, by_cookie):
        assert [row["id"] for row in client.get(LISTINGS).json()["results"]] == [listing.pk]


def test_other_representations_are_not_stored(listing: Listing) -> None:
    html = Client().get(LISTINGS, HTTP_ACCEPT="text/html")
    assert html["Content-Type"].startswith("text/html")

    assert Client().get(LISTINGS)["Content-Type"] == "application/json"
    assert Client().get(LISTINGS, HTTP_ACCEPT="text/html")["Content-Type"].startswith("text/html")


def test_errors_are_not_stored(listing: Listing) -> None:
    unknown = f"{LISTINGS}/{listing.pk + 1000}"
    assert Client().get(unknown).status_code == 404

    with CaptureQueriesContext(connection) as queries:
        assert Client().get(unknown).status_code == 404

    assert len(queries) > 0  # the view answered again


def test_stored_reads_count_against_the_rate_limit(
    listing: Listing, settings: Any, hold_rate_clock: Callable[[int], None]
) -> None:
    hold_rate_clock(60)
    settings.API_RATE_LIMIT = Rate(3, 60)
    client = APIClient(REMOTE_ADDR="203.0.113.60")

    statuses = [client.get(LISTINGS).status_code for _ in range(5)]

    assert statuses == [200, 200, 200, 429, 429]
    assert APIClient(REMOTE_ADDR="203.0.113.61").get(LISTINGS).status_code == 200


def test_another_host_gets_its_own_links(listing: Listing, settings: Any) -> None:
    settings.ALLOWED_HOSTS = ["a.example", "b.example"]
    with_more = f"{LISTINGS}?page_size=1"
    make_listing(service_name="Second API")

    first = Client(HTTP_HOST="a.example").get(with_more).json()["next"]
    second = Client(HTTP_HOST="b.example").get(with_more).json()["next"]

    assert first.startswith("http://a.example/")
    assert second.startswith("http://b.example/")

"""Public browse of listings: pagination, search, filters, sorting, visibility (SPEC §3, §7).

`GET /api/v1/listings` needs no account. Paused, suspended and pending-review listings are
hidden from everyone but their seller and operators; sold-out listings stay visible. The
HTML browse page `/listings` takes the same filters.
"""

from collections.abc import Callable
from typing import Any

import pytest
from rest_framework.test import APIClient

from accounts.models import User
from accounts.services import seller_profile_ensure
from listings.models import Listing
from orders.services import order_create
from tests.factories import UserFactory, make_listing

pytestmark = pytest.mark.django_db

LISTINGS = "/api/v1/listings"


def _ids(response: Any) -> list[int]:
    assert response.status_code == 200, response.content
    return [row["id"] for row in response.json()["results"]]


def _sell(listing: Listing, units: int) -> None:
    order_create(buyer=UserFactory.create(), listing_id=listing.pk, units=units)


@pytest.fixture
def catalogue(seller: User) -> dict[str, Listing]:
    """Four listings of two sellers, created oldest first."""
    other_seller = UserFactory.create()
    geo = make_listing(seller=seller, service_name="Geocoding API", price="0.50", units=10)
    weather = make_listing(seller=seller, service_name="Weather API", price="2.00", units=10)
    stocks = make_listing(seller=other_seller, service_name="Stock quotes", price="1.25", units=3)
    Listing.objects.filter(pk=stocks.pk).update(description="Realtime equities and forex feed")
    maps = make_listing(seller=other_seller, service_name="Map tiles", price="3.00", units=10)
    return {"geo": geo, "weather": weather, "stocks": stocks, "maps": maps}


# --- Shape and pagination -----------------------------------------------------------------


def test_browse_is_public_and_paginated(api: APIClient, catalogue: dict[str, Listing]) -> None:
    first = api.get(LISTINGS, {"page_size": 3})

    assert first.status_code == 200, first.content
    body = first.json()
    assert set(body) == {"count", "next", "previous", "results"}
    assert body["count"] == 4
    assert len(body["results"]) == 3
    assert body["previous"] is None
    assert "page=2" in body["next"]

    second = api.get(body["next"]).json()
    assert second["next"] is None
    assert second["previous"] is not None
    assert len(second["results"]) == 1
    all_ids = {row["id"] for row in body["results"] + second["results"]}
    assert all_ids == {listing.pk for listing in catalogue.values()}


def test_a_listing_shows_what_a_buyer_needs_and_no_secret(
    api: APIClient, catalogue: dict[str, Listing]
) -> None:
    row = next(
        row for row in api.get(LISTINGS).json()["results"] if row["id"] == catalogue["geo"].pk
    )
    assert row["service_name"] == "Geocoding API"
    assert row["price_per_unit"] == "0.50"
    assert row["available_units"] == 10
    assert row["status"] == "active"
    assert row["seller"]["id"] == catalogue["geo"].seller_id
    assert row["seller"]["display_name"]
    assert "secret" not in row
    assert "shared_secret" not in row


def test_page_size_is_capped_at_100(api: APIClient, seller: User) -> None:
    for n in range(101):
        make_listing(seller=seller, service_name=f"Service {n}")

    body = api.get(LISTINGS, {"page_size": 1000}).json()

    assert body["count"] == 101
    assert len(body["results"]) == 100
    assert body["next"] is not None


def test_default_page_size_is_20(api: APIClient, seller: User) -> None:
    for n in range(21):
        make_listing(seller=seller, service_name=f"Service {n}")
    assert len(api.get(LISTINGS).json()["results"]) == 20


@pytest.mark.parametrize("page", ["abc", "0", "99"])
def test_a_page_that_does_not_exist_is_a_404(
    api: APIClient, catalogue: dict[str, Listing], page: str
) -> None:
    assert api.get(LISTINGS, {"page": page}).status_code == 404


# --- Search, filters, sorting -------------------------------------------------------------


@pytest.mark.parametrize(
    ("search", "expected"),
    [
        ("geocoding", {"geo"}),  # name, any case
        ("API", {"geo", "weather"}),
        ("forex", {"stocks"}),  # description only
        ("for tests", {"geo", "weather", "maps"}),  # factory descriptions
        ("nothing like this", set()),
    ],
)
def test_search_by_name_and_description(
    api: APIClient, catalogue: dict[str, Listing], search: str, expected: set[str]
) -> None:
    found = set(_ids(api.get(LISTINGS, {"search": search})))
    assert found == {catalogue[name].pk for name in expected}


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"min_price": "1.25"}, {"stocks", "weather", "maps"}),  # inclusive
        ({"max_price": "1.25"}, {"geo", "stocks"}),
        ({"min_price": "1", "max_price": "2.00"}, {"stocks", "weather"}),
        ({"min_price": "2", "max_price": "2"}, {"weather"}),
        ({"min_price": "10"}, set()),
    ],
)
def test_price_range(
    api: APIClient, catalogue: dict[str, Listing], params: dict[str, str], expected: set[str]
) -> None:
    found = set(_ids(api.get(LISTINGS, params)))
    assert found == {catalogue[name].pk for name in expected}


def test_seller_filter(api: APIClient, catalogue: dict[str, Listing], seller: User) -> None:
    found = set(_ids(api.get(LISTINGS, {"seller": seller.pk})))
    assert found == {catalogue["geo"].pk, catalogue["weather"].pk}
    assert _ids(api.get(LISTINGS, {"seller": 999_999})) == []


def test_in_stock_leaves_out_sold_out_listings(
    api: APIClient, catalogue: dict[str, Listing]
) -> None:
    _sell(catalogue["stocks"], 3)

    in_stock = set(_ids(api.get(LISTINGS, {"in_stock": "true"})))
    everything = set(_ids(api.get(LISTINGS)))

    assert catalogue["stocks"].pk not in in_stock
    assert catalogue["stocks"].pk in everything
    assert everything - in_stock == {catalogue["stocks"].pk}
    assert set(_ids(api.get(LISTINGS, {"in_stock": "false"}))) == everything


@pytest.mark.parametrize(
    ("ordering", "expected"),
    [
        ("newest", ["maps", "stocks", "weather", "geo"]),
        ("price", ["geo", "stocks", "weather", "maps"]),
        ("-price", ["maps", "weather", "stocks", "geo"]),
        ("best_selling", ["weather", "stocks", "geo", "maps"]),
    ],
)
def test_ordering(
    api: APIClient, catalogue: dict[str, Listing], ordering: str, expected: list[str]
) -> None:
    _sell(catalogue["weather"], 2)
    _sell(catalogue["weather"], 1)
    _sell(catalogue["stocks"], 2)
    _sell(catalogue["geo"], 1)

    found = _ids(api.get(LISTINGS, {"ordering": ordering}))

    assert found == [catalogue[name].pk for name in expected]


def test_newest_is_the_default_order(api: APIClient, catalogue: dict[str, Listing]) -> None:
    assert _ids(api.get(LISTINGS)) == _ids(api.get(LISTINGS, {"ordering": "newest"}))
    assert _ids(api.get(LISTINGS))[0] == catalogue["maps"].pk


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"min_price": "abc"}, "min_price"),
        ({"max_price": "1,50"}, "max_price"),
        ({"min_price": "NaN"}, "min_price"),
        ({"min_price": "-1"}, "min_price"),
        ({"max_price": "1.005"}, "max_price"),
        ({"max_price": "1e400"}, "max_price"),
        ({"min_price": "5", "max_price": "1"}, "max_price"),
        ({"ordering": "bogus"}, "ordering"),
        ({"ordering": "price; DROP TABLE listings_listing"}, "ordering"),
        ({"seller": "x"}, "seller"),
        ({"seller": "0"}, "seller"),
        ({"seller": "-3"}, "seller"),
        ({"seller": str(2**70)}, "seller"),
        ({"search": "s" * 101}, "search"),
        ({"search": "nul\x00byte"}, "search"),
    ],
    ids=[
        "min-price-word",
        "max-price-comma",
        "min-price-nan",
        "min-price-negative",
        "max-price-three-decimals",
        "max-price-overflow",
        "min-above-max",
        "ordering-bogus",
        "ordering-injection",
        "seller-word",
        "seller-zero",
        "seller-negative",
        "seller-huge",
        "search-too-long",
        "search-nul-byte",
    ],
)
def test_invalid_filters_are_a_400_naming_the_field(
    api: APIClient, catalogue: dict[str, Listing], params: dict[str, str], field: str
) -> None:
    response = api.get(LISTINGS, params)
    assert response.status_code == 400, response.content
    assert list(response.json()) == [field]


# --- Visibility ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "status", [Listing.Status.PAUSED, Listing.Status.SUSPENDED, Listing.Status.PENDING_REVIEW]
)
def test_hidden_listings_are_seen_only_by_their_seller_and_staff(
    api: APIClient,
    client_for: Callable[[User], APIClient],
    catalogue: dict[str, Listing],
    seller: User,
    status: str,
) -> None:
    hidden = catalogue["weather"]
    Listing.objects.filter(pk=hidden.pk).update(status=status)
    detail = f"{LISTINGS}/{hidden.pk}"
    staff = client_for(UserFactory.create(is_staff=True))

    for outsider in (api, client_for(UserFactory.create())):
        assert hidden.pk not in _ids(outsider.get(LISTINGS))
        assert hidden.pk not in _ids(outsider.get(LISTINGS, {"seller": seller.pk}))
        assert outsider.get(LISTINGS).json()["count"] == 3
        assert outsider.get(detail).status_code == 404

    for insider in (client_for(seller), staff):
        assert hidden.pk in _ids(insider.get(LISTINGS))
        response = insider.get(detail)
        assert response.status_code == 200
        assert response.json()["status"] == status


def test_staff_see_every_sellers_hidden_listings(
    client_for: Callable[[User], APIClient], catalogue: dict[str, Listing], seller: User
) -> None:
    Listing.objects.filter(pk=catalogue["maps"].pk).update(status=Listing.Status.SUSPENDED)
    # The seller of "geo"/"weather" is not the seller of "maps": they do not see it.
    assert catalogue["maps"].pk not in _ids(client_for(seller).get(LISTINGS))
    staff = client_for(UserFactory.create(is_staff=True))
    assert catalogue["maps"].pk in _ids(staff.get(LISTINGS))


def test_sold_out_listings_stay_visible_as_sold_out(
    api: APIClient, catalogue: dict[str, Listing]
) -> None:
    _sell(catalogue["stocks"], 3)

    row = next(r for r in api.get(LISTINGS).json()["results"] if r["id"] == catalogue["stocks"].pk)
    assert row["status"] == "sold_out"
    assert row["available_units"] == 0
    detail = api.get(f"{LISTINGS}/{catalogue['stocks'].pk}")
    assert detail.status_code == 200
    assert detail.json()["status"] == "sold_out"


def test_seller_display_name_is_shown(
    api: APIClient, catalogue: dict[str, Listing], seller: User
) -> None:
    seller_profile_ensure(user=seller, display_name="Acme Data Co")
    row = next(r for r in api.get(LISTINGS).json()["results"] if r["id"] == catalogue["geo"].pk)
    assert row["seller"] == {"id": seller.pk, "display_name": "Acme Data Co"}


# --- HTML browse page (/listings; "/" is the home page, tests/listings/test_public_pages.py) ---

BROWSE_PAGE = "/listings"


def test_browse_page_lists_listings(api: APIClient, catalogue: dict[str, Listing]) -> None:
    response = api.get(BROWSE_PAGE)

    assert response.status_code == 200
    page = response.content.decode()
    for listing in catalogue.values():
        assert listing.service_name in page


def test_browse_page_applies_the_same_filters(
    api: APIClient, catalogue: dict[str, Listing]
) -> None:
    page = api.get(BROWSE_PAGE, {"search": "api", "max_price": "1.00"}).content.decode()
    assert "Geocoding API" in page
    assert "Weather API" not in page  # too expensive
    assert "Map tiles" not in page  # no match

    page = api.get(BROWSE_PAGE, {"ordering": "-price"}).content.decode()
    assert page.index("Map tiles") < page.index("Weather API") < page.index("Geocoding API")


def test_browse_page_hides_hidden_listings(
    api: APIClient, client_for: Callable[[User], APIClient], catalogue: dict[str, Listing]
) -> None:
    Listing.objects.filter(pk=catalogue["maps"].pk).update(status=Listing.Status.SUSPENDED)
    Listing.objects.filter(pk=catalogue["geo"].pk).update(status=Listing.Status.PAUSED)

    page = api.get(BROWSE_PAGE).content.decode()

    assert "Map tiles" not in page
    assert "Geocoding API" not in page
    assert "Weather API" in page


@pytest.mark.parametrize(
    "params",
    [
        {"min_price": "abc"},
        {"ordering": "bogus"},
        {"seller": "x"},
        {"min_price": "5", "max_price": "1"},
        {"page": "abc"},
        {"page": "999"},
        {"search": "nul\x00byte"},
    ],
)
def test_browse_page_never_fails_on_bad_filters(
    api: APIClient, catalogue: dict[str, Listing], params: dict[str, str]
) -> None:
    response = api.get(BROWSE_PAGE, params)
    assert response.status_code == 200
    assert "Geocoding API" in response.content.decode()

"""SPEC §8 public pages: home (best sellers, newest, a search box), browse (filters and
pagination), listing detail (what a buyer needs, the buy form or why there is none).

Hidden listings (paused, suspended, pending review) never appear to others, and no page makes
more queries with 50 listings than with 1.
"""

import re
from typing import Any

import pytest
from django.test import Client

from accounts.models import User
from accounts.services import seller_profile_ensure
from listings.models import Listing
from orders.services import order_create
from tests.factories import UserFactory, make_listing
from tests.pages import input_value, queries_for

pytestmark = pytest.mark.django_db

HIDDEN = [Listing.Status.PAUSED, Listing.Status.SUSPENDED, Listing.Status.PENDING_REVIEW]


def _sell(listing: Listing, units: int = 1) -> None:
    order_create(buyer=UserFactory.create(), listing_id=listing.pk, units=units)


def _detail(listing: Listing) -> str:
    return f"/listings/{listing.pk}"


# --- Home -----------------------------------------------------------------------------------


def test_home_shows_best_sellers_in_stock_and_the_newest(client: Client) -> None:
    old_hit = make_listing(service_name="Old hit", units=10)
    sold_out_hit = make_listing(service_name="Sold-out hit", units=2)
    make_listing(service_name="Fresh feed", units=5)
    _sell(old_hit, 3)
    _sell(sold_out_hit, 2)

    page = client.get("/").content.decode()

    best = page[page.index("Best sellers") : page.index("Newest listings")]
    newest = page[page.index("Newest listings") :]
    assert "Old hit" in best
    assert "Sold-out hit" not in best  # best sellers are in stock
    assert "Fresh feed" not in best  # nothing sold yet
    assert newest.index("Fresh feed") < newest.index("Sold-out hit") < newest.index("Old hit")


def test_home_has_a_search_box_that_goes_to_browse(client: Client) -> None:
    page = client.get("/").content.decode()

    form = re.search(r'<form method="get" action="/listings" role="search".*?</form>', page, re.S)
    assert form is not None
    assert 'name="search"' in form.group(0)
    assert '<label for="home-search">' in form.group(0)


@pytest.mark.parametrize("status", HIDDEN)
def test_home_never_shows_a_hidden_listing_even_to_its_seller(
    client: Client, seller: User, status: str
) -> None:
    hidden = make_listing(seller=seller, service_name="Hidden feed")
    _sell(hidden)
    Listing.objects.filter(pk=hidden.pk).update(status=status)
    make_listing(service_name="Visible feed")

    for viewer in (None, UserFactory.create(), seller):
        if viewer is not None:
            client.force_login(viewer)
        page = client.get("/").content.decode()
        assert "Visible feed" in page
        assert "Hidden feed" not in page


def test_home_without_listings_invites_sellers(client: Client) -> None:
    response = client.get("/")
    assert response.status_code == 200
    assert "Nothing is on sale yet" in response.content.decode()


# --- Browse ---------------------------------------------------------------------------------


def test_browse_paginates_and_the_links_keep_the_filters(client: Client, seller: User) -> None:
    for n in range(25):
        make_listing(seller=seller, service_name=f"Feed {n:02}", price="2.00")

    first = client.get("/listings", {"search": "feed", "max_price": "3"}).content.decode()

    assert "25 listings" in first
    assert first.count('class="listing"') == 20
    assert 'href="?search=feed&amp;max_price=3&amp;page=2"' in first
    second = client.get("/listings", {"search": "feed", "max_price": "3", "page": "2"})
    assert second.content.decode().count('class="listing"') == 5
    assert "Page 2 of 2" in second.content.decode()


def test_browse_filters_by_seller_and_names_them(client: Client, seller: User) -> None:
    seller_profile_ensure(user=seller, display_name="Acme Data")
    make_listing(seller=seller, service_name="Acme geocoding")
    make_listing(service_name="Someone else's feed")

    page = client.get("/listings", {"seller": seller.pk}).content.decode()

    assert "1 listing by Acme Data" in page
    assert "Acme geocoding" in page
    assert "Someone else" not in page
    assert f'<input type="hidden" name="seller" value="{seller.pk}">' in page
    assert "Show every seller" in page


def test_browse_shows_bad_filters_and_every_listing(client: Client) -> None:
    make_listing(service_name="Weather API")

    page = client.get("/listings", {"min_price": "abc"}).content.decode()

    assert "Enter a number." in page
    assert "Some filters could not be used" in page
    assert "Weather API" in page
    assert input_value(page, "min_price") == "abc"  # what they typed stays


@pytest.mark.parametrize("status", HIDDEN)
def test_browse_never_shows_a_hidden_listing_to_others(
    client: Client, seller: User, status: str
) -> None:
    hidden = make_listing(seller=seller, service_name="Hidden feed")
    Listing.objects.filter(pk=hidden.pk).update(status=status)

    for viewer in (None, UserFactory.create()):
        if viewer is not None:
            client.force_login(viewer)
        for params in ({}, {"seller": seller.pk}, {"search": "hidden"}, {"ordering": "price"}):
            assert "Hidden feed" not in client.get("/listings", params).content.decode()

    client.force_login(seller)  # the seller sees it, marked as not on sale
    page = client.get("/listings").content.decode()
    assert "Hidden feed" in page
    assert f'<span class="badge {status}">' in page


# --- Listing detail -------------------------------------------------------------------------


def test_detail_shows_what_a_buyer_needs(client: Client, seller: User, buyer: User) -> None:
    seller_profile_ensure(user=seller, display_name="Acme Data")
    listing = make_listing(seller=seller, service_name="Geocoding API", price="0.75", units=7)
    Listing.objects.filter(pk=listing.pk).update(
        description="Addresses to coordinates.", endpoint_url="https://api.acme.test/geo"
    )
    client.force_login(buyer)

    page = client.get(_detail(listing)).content.decode()

    for text in (
        "Geocoding API",
        "Acme Data",
        "0.75 USD",
        "per 1000 requests",
        "Addresses to coordinates.",
        'href="https://api.acme.test/geo"',
        "<dt>Units left</dt><dd>7</dd>",
    ):
        assert text in page
    assert "shared-secret-value" not in page


def test_detail_buy_form_has_bounded_units_and_a_fresh_idempotency_key(
    client: Client, buyer: User
) -> None:
    listing = make_listing(units=3)
    client.force_login(buyer)

    first = client.get(_detail(listing)).content.decode()
    second = client.get(_detail(listing)).content.decode()

    assert f'action="/listings/{listing.pk}/buy"' in first
    units = re.search(r'<input type="number" name="units"[^>]*>', first)
    assert units is not None
    assert 'min="1"' in units.group(0)
    assert 'max="3"' in units.group(0)
    assert '<label for="id_units">Units</label>' in first
    key = input_value(first, "idempotency_key")
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}", key)
    assert input_value(second, "idempotency_key") != key  # one per rendering
    assert "csrfmiddlewaretoken" in first


def test_anonymous_visitors_get_a_login_link_back_to_the_listing(client: Client) -> None:
    listing = make_listing()

    page = client.get(_detail(listing)).content.decode()

    assert f'href="/login?next=/listings/{listing.pk}"' in page
    assert "Log in to buy" in page
    assert 'name="units"' not in page


def test_sold_out_listing_has_no_buy_form_but_says_so(client: Client, buyer: User) -> None:
    listing = make_listing(units=2)
    _sell(listing, 2)
    client.force_login(buyer)

    response = client.get(_detail(listing))

    assert response.status_code == 200
    page = response.content.decode()
    assert '<span class="badge sold_out">Sold out</span>' in page
    assert "Sold out: every unit has been bought." in page
    assert 'name="units"' not in page


def test_a_paused_listing_is_hidden_from_buyers_and_shown_to_its_seller(
    client: Client, seller: User, buyer: User
) -> None:
    listing = make_listing(seller=seller)
    Listing.objects.filter(pk=listing.pk).update(status=Listing.Status.PAUSED)

    assert client.get(_detail(listing)).status_code == 404
    client.force_login(buyer)
    assert client.get(_detail(listing)).status_code == 404

    client.force_login(seller)
    page = client.get(_detail(listing)).content.decode()
    assert "This is your listing; it is paused, so buyers cannot see it." in page
    assert 'name="units"' not in page


def test_staff_see_a_suspended_listing_without_a_buy_form(client: Client) -> None:
    listing = make_listing()
    Listing.objects.filter(pk=listing.pk).update(status=Listing.Status.SUSPENDED)
    client.force_login(UserFactory.create(is_staff=True))

    page = client.get(_detail(listing)).content.decode()

    assert "Not on sale right now: the listing is suspended." in page
    assert 'name="units"' not in page


def test_the_seller_sees_their_own_listing_without_a_buy_form(client: Client, seller: User) -> None:
    listing = make_listing(seller=seller)
    client.force_login(seller)

    page = client.get(_detail(listing)).content.decode()

    assert "This is your listing" in page
    assert f'href="/sell/listings/{listing.pk}/edit"' in page
    assert 'name="units"' not in page


def test_an_unknown_listing_is_a_404(client: Client) -> None:
    assert client.get("/listings/999999").status_code == 404


# --- A fixed number of queries --------------------------------------------------------------


def _catalogue(count: int) -> None:
    """`count` listings, each of its own seller (a per-row lookup would show), each sold."""
    for n in range(count):
        listing = make_listing(service_name=f"Feed {n}", units=5)
        _sell(listing)


@pytest.mark.parametrize("url", ["/", "/listings", "/listings?ordering=best_selling"])
@pytest.mark.parametrize("signed_in", [False, True])
def test_home_and_browse_make_as_many_queries_for_50_listings_as_for_1(
    client: Client, buyer: User, url: str, signed_in: bool, django_capture_on_commit_callbacks: Any
) -> None:
    if signed_in:
        client.force_login(buyer)
    _catalogue(1)
    with_one = queries_for(client, url)
    with django_capture_on_commit_callbacks(execute=True):  # as after a commit: cache renewed
        _catalogue(49)

    assert queries_for(client, url) == with_one


def test_detail_makes_as_many_queries_whatever_else_is_on_sale(client: Client, buyer: User) -> None:
    client.force_login(buyer)
    _catalogue(1)
    listing = Listing.objects.get()
    with_one = queries_for(client, _detail(listing))
    _catalogue(49)
    for _ in range(3):
        _sell(listing)

    assert queries_for(client, _detail(listing)) == with_one

"""SPEC §5 and §8 through the pages: buying from the listing page (instant or on to checkout),
the failures a buyer can cause shown next to what they typed with the API's status, the
hidden idempotency key that stops a double purchase, my orders and an order's page (another
buyer's is a 404), cancelling, and a fixed number of queries per page.
"""

import re
from typing import Any

import pytest
from django.test import Client

from accounts.models import User
from listings.models import Listing
from orders.models import Order
from orders.services import order_create
from tests.factories import UserFactory, make_listing
from tests.orders.helpers import available
from tests.pages import input_value, queries_for
from tests.stripe_fake import FakeStripe

pytestmark = pytest.mark.django_db


@pytest.fixture
def dev_mode(settings: Any) -> None:
    """The built-in dev checkout stands in for Stripe (DEBUG on, no Stripe key)."""
    settings.DEBUG = True
    settings.STRIPE_SECRET_KEY = ""
    settings.STRIPE_WEBHOOK_SECRET = ""


def _buy_url(listing: Listing) -> str:
    return f"/listings/{listing.pk}/buy"


def _buy(client: Client, listing: Listing, units: int | str, key: str | None = None) -> Any:
    """Submit the buy form as the page renders it: with the key the page carries."""
    if key is None:
        key = input_value(client.get(f"/listings/{listing.pk}").content.decode(), "idempotency_key")
    return client.post(_buy_url(listing), {"units": units, "idempotency_key": key})


def _units_input(page: str) -> str:
    tag = re.search(r'<input type="number" name="units"[^>]*>', page)
    assert tag is not None, "no units input in the page"
    return tag.group(0)


# --- Buying ---------------------------------------------------------------------------------


def test_an_instant_purchase_lands_on_the_order_page_with_a_message(
    client: Client, buyer: User
) -> None:
    listing = make_listing(units=10, price="1.50", service_name="Weather API")
    client.force_login(buyer)

    response = _buy(client, listing, 3)

    order = Order.objects.get(buyer=buyer)
    assert response.status_code == 302
    assert response["Location"] == f"/orders/{order.pk}"
    assert order.status == Order.Status.FULFILLED
    assert order.units == 3
    assert available(listing) == 7
    page = client.get(response["Location"]).content.decode()
    assert "You bought 3 units of “Weather API”: your tokens are ready." in page
    assert '<span class="badge fulfilled">Fulfilled</span>' in page
    assert "4.50 USD" in page


@pytest.mark.usefixtures("dev_mode")
def test_a_large_purchase_goes_on_to_the_dev_checkout(
    client: Client, buyer: User, settings: Any
) -> None:
    listing = make_listing(units=10, price="4.00")
    client.force_login(buyer)

    response = _buy(client, listing, 2)

    order = Order.objects.get(buyer=buyer)
    assert order.status == Order.Status.AWAITING_PAYMENT
    assert response.status_code == 302
    assert response["Location"] == order.checkout_url
    assert response["Location"].startswith(settings.SITE_URL + "/checkout/")
    assert available(listing) == 8


def test_a_large_purchase_goes_on_to_stripe_checkout(
    client: Client, buyer: User, fake_stripe: FakeStripe
) -> None:
    listing = make_listing(units=10, price="4.00")
    client.force_login(buyer)

    response = _buy(client, listing, 2)

    order = Order.objects.get(buyer=buyer)
    assert response.status_code == 302
    assert response["Location"] == order.checkout_url
    assert response["Location"].startswith("https://checkout.stripe.test/")


def test_resubmitting_the_same_form_never_buys_twice(client: Client, buyer: User) -> None:
    listing = make_listing(units=10)
    client.force_login(buyer)
    key = input_value(client.get(f"/listings/{listing.pk}").content.decode(), "idempotency_key")

    first = _buy(client, listing, 2, key)
    second = _buy(client, listing, 2, key)  # a double click, or the browser resending the POST

    order = Order.objects.get(buyer=buyer)
    assert first["Location"] == second["Location"] == f"/orders/{order.pk}"
    assert available(listing) == 8
    page = client.get(second["Location"]).content.decode()
    assert "You already placed this order; nothing was bought twice." in page


@pytest.mark.usefixtures("dev_mode")
def test_resubmitting_a_checkout_purchase_returns_to_the_same_checkout(
    client: Client, buyer: User
) -> None:
    listing = make_listing(units=10, price="4.00")
    client.force_login(buyer)
    key = input_value(client.get(f"/listings/{listing.pk}").content.decode(), "idempotency_key")

    first = _buy(client, listing, 2, key)
    second = _buy(client, listing, 2, key)

    assert Order.objects.filter(buyer=buyer).count() == 1
    assert first["Location"] == second["Location"]
    assert available(listing) == 8


def test_an_old_form_sent_with_other_units_asks_again_with_a_new_key(
    client: Client, buyer: User
) -> None:
    """The back button after a purchase: the page's key is spent on an order of 1 unit."""
    listing = make_listing(units=10)
    client.force_login(buyer)
    key = input_value(client.get(f"/listings/{listing.pk}").content.decode(), "idempotency_key")
    _buy(client, listing, 1, key)

    response = _buy(client, listing, 4, key)

    assert response.status_code == 409
    page = response.content.decode()
    assert "This form was already used for an earlier order" in page
    assert 'value="4"' in _units_input(page)
    new_key = input_value(page, "idempotency_key")
    assert new_key != key
    assert Order.objects.filter(buyer=buyer).count() == 1
    # Sent again as the page now stands, it is a new purchase.
    assert _buy(client, listing, 4, new_key).status_code == 302
    assert available(listing) == 5


def test_too_many_units_keeps_what_they_typed_next_to_the_field(
    client: Client, buyer: User
) -> None:
    listing = make_listing(units=3)
    client.force_login(buyer)

    response = _buy(client, listing, 5)

    assert response.status_code == 409
    page = response.content.decode()
    assert "Only 3 units left; you asked for 5." in page
    units = _units_input(page)
    assert 'value="5"' in units
    assert 'max="3"' in units
    # The message sits in the buy form, right above the units field.
    form = page[page.index(f'action="{_buy_url(listing)}"') :]
    assert form.index("Only 3 units left") < form.index('name="units"')
    assert not Order.objects.exists()


def test_sold_out_while_buying_says_so_on_the_page_without_a_form(
    client: Client, buyer: User
) -> None:
    listing = make_listing(units=2)
    client.force_login(buyer)
    key = input_value(client.get(f"/listings/{listing.pk}").content.decode(), "idempotency_key")
    order_create(buyer=UserFactory.create(), listing_id=listing.pk, units=2)  # someone faster

    response = _buy(client, listing, 1, key)

    assert response.status_code == 409
    page = response.content.decode()
    assert '<li class="message error">This listing is sold out.</li>' in page
    assert "Sold out: every unit has been bought." in page
    assert 'name="units"' not in page
    assert not Order.objects.filter(buyer=buyer).exists()


@pytest.mark.parametrize(
    ("units", "message"),
    [
        ("0", "Ensure this value is greater than or equal to 1."),
        ("1001", "Ensure this value is less than or equal to 1000."),
        ("two", "Enter a whole number."),
        ("", "This field is required."),
    ],
)
def test_bad_units_are_a_400_with_the_typed_value_kept(
    client: Client, buyer: User, units: str, message: str
) -> None:
    listing = make_listing(units=3)
    client.force_login(buyer)

    response = _buy(client, listing, units)

    assert response.status_code == 400
    page = response.content.decode()
    assert message in page
    if units:
        assert f'value="{units}"' in _units_input(page)
    assert not Order.objects.exists()


@pytest.mark.parametrize("key", ["", "not-a-uuid"])
def test_a_form_without_a_valid_key_buys_nothing_and_offers_a_new_one(
    client: Client, buyer: User, key: str
) -> None:
    listing = make_listing(units=3)
    client.force_login(buyer)

    response = client.post(_buy_url(listing), {"units": "2", "idempotency_key": key})

    assert response.status_code == 400
    page = response.content.decode()
    assert "This form has expired: check the units and buy again." in page
    assert re.fullmatch(r"[0-9a-f-]{36}", input_value(page, "idempotency_key"))
    assert 'value="2"' in _units_input(page)
    assert not Order.objects.exists()


def test_buying_your_own_listing_is_refused(client: Client, seller: User) -> None:
    listing = make_listing(seller=seller, units=3)
    client.force_login(seller)

    response = _buy(client, listing, 1, key="5f0c6f3e-8f55-4c6e-9d55-0c6a1d2f0b9e")

    assert response.status_code == 409
    assert "You cannot buy your own listing." in response.content.decode()
    assert not Order.objects.exists()


@pytest.mark.parametrize("status", [Listing.Status.PAUSED, Listing.Status.SUSPENDED])
def test_a_listing_taken_off_sale_while_buying_is_refused_without_showing_it(
    client: Client, buyer: User, status: str
) -> None:
    listing = make_listing(units=3, service_name="Soon paused")
    client.force_login(buyer)
    key = input_value(client.get(f"/listings/{listing.pk}").content.decode(), "idempotency_key")
    Listing.objects.filter(pk=listing.pk).update(status=status)

    response = _buy(client, listing, 1, key)

    assert response.status_code == 409
    page = response.content.decode()
    assert "This listing is not on sale right now." in page
    assert "Soon paused" not in page  # hidden listings are not shown to buyers
    assert not Order.objects.exists()


def test_an_unknown_listing_is_a_404(client: Client, buyer: User) -> None:
    client.force_login(buyer)
    response = client.post(
        "/listings/999999/buy",
        {"units": "1", "idempotency_key": "5f0c6f3e-8f55-4c6e-9d55-0c6a1d2f0b9e"},
    )
    assert response.status_code == 404


def test_card_payments_unavailable_is_a_503_keeping_the_units(client: Client, buyer: User) -> None:
    """No Stripe key and debug off: orders over the small-order limit cannot be paid."""
    listing = make_listing(units=10, price="4.00")
    client.force_login(buyer)

    response = _buy(client, listing, 2)

    assert response.status_code == 503
    page = response.content.decode()
    assert "need card payment, which is not configured here; buy fewer units." in page
    assert 'value="2"' in _units_input(page)
    assert available(listing) == 10


def test_stripe_down_is_a_503_keeping_the_units_and_releasing_the_stock(
    client: Client, buyer: User, fake_stripe: FakeStripe
) -> None:
    listing = make_listing(units=10, price="4.00")
    client.force_login(buyer)
    fake_stripe.down = True

    response = _buy(client, listing, 2)

    assert response.status_code == 503
    page = response.content.decode()
    assert "Card payment is unavailable right now; nothing was charged" in page
    assert 'value="2"' in _units_input(page)
    assert available(listing) == 10
    # The same form, sent again once Stripe is back, buys (the key was freed).
    fake_stripe.down = False
    key = input_value(page, "idempotency_key")
    retry = _buy(client, listing, 2, key)
    assert retry.status_code == 302
    assert retry["Location"].startswith("https://checkout.stripe.test/")


def test_anonymous_buyers_are_sent_to_log_in_and_back_to_the_listing(client: Client) -> None:
    listing = make_listing(units=3)

    response = client.post(
        _buy_url(listing),
        {"units": "1", "idempotency_key": "5f0c6f3e-8f55-4c6e-9d55-0c6a1d2f0b9e"},
    )

    assert response.status_code == 302
    assert response["Location"] == f"/login?next=/listings/{listing.pk}"
    assert not Order.objects.exists()


def test_buying_is_a_post_only(client: Client, buyer: User) -> None:
    listing = make_listing(units=3)
    client.force_login(buyer)
    assert client.get(_buy_url(listing)).status_code == 405


def test_the_buy_form_needs_its_csrf_token(buyer: User) -> None:
    listing = make_listing(units=3)
    client = Client(enforce_csrf_checks=True)
    client.force_login(buyer)

    response = client.post(
        _buy_url(listing),
        {"units": "1", "idempotency_key": "5f0c6f3e-8f55-4c6e-9d55-0c6a1d2f0b9e"},
    )

    assert response.status_code == 403
    assert not Order.objects.exists()


# --- My orders and an order's page ----------------------------------------------------------


@pytest.fixture
def two_orders(buyer: User, settings: Any) -> tuple[Order, Order]:
    """A fulfilled instant order and one awaiting payment (through the dev checkout)."""
    instant = order_create(
        buyer=buyer, listing_id=make_listing(units=5, service_name="Geo").pk, units=2
    ).order
    settings.DEBUG, settings.STRIPE_SECRET_KEY = True, ""
    awaiting = order_create(
        buyer=buyer,
        listing_id=make_listing(units=5, price="4.00", service_name="Maps").pk,
        units=2,
    ).order
    settings.DEBUG = False
    return instant, awaiting


def test_my_orders_lists_status_totals_and_the_way_to_pay_or_cancel(
    client: Client, buyer: User, two_orders: tuple[Order, Order]
) -> None:
    instant, awaiting = two_orders
    client.force_login(buyer)

    page = client.get("/orders").content.decode()

    assert '<span class="badge fulfilled">Fulfilled</span>' in page
    assert '<span class="badge awaiting_payment">Awaiting Payment</span>' in page
    assert "2.00 USD" in page
    assert "8.00 USD" in page
    assert page.index(f"#{awaiting.pk}") < page.index(f"#{instant.pk}")  # newest first
    assert f'href="{awaiting.checkout_url}"' in page
    assert f'action="/orders/{awaiting.pk}/cancel"' in page
    assert f'action="/orders/{instant.pk}/cancel"' not in page  # fulfilled: nothing to cancel
    assert "2 tokens" in page


def test_my_orders_shows_only_my_orders(client: Client, two_orders: tuple[Order, Order]) -> None:
    client.force_login(UserFactory.create())
    page = client.get("/orders").content.decode()
    assert "You have not bought anything yet." in page
    assert "Geo" not in page


def test_my_orders_is_paginated(client: Client, buyer: User) -> None:
    listing = make_listing(units=30, price="0.10")
    for _ in range(25):
        order_create(buyer=buyer, listing_id=listing.pk, units=1)
    client.force_login(buyer)

    first = client.get("/orders").content.decode()
    second = client.get("/orders", {"page": 2}).content.decode()

    assert first.count("<tr>") == 21  # header and 20 orders
    assert second.count("<tr>") == 6
    assert 'href="?page=2"' in first


def test_order_page_shows_the_order_and_links_to_my_tokens(
    client: Client, buyer: User, two_orders: tuple[Order, Order]
) -> None:
    instant, awaiting = two_orders
    client.force_login(buyer)

    page = client.get(f"/orders/{instant.pk}").content.decode()
    assert '<span class="badge fulfilled">Fulfilled</span>' in page
    assert "<dt>Tokens</dt><dd>2 · " in page
    assert 'href="/tokens"' in page
    assert "2 \N{MULTIPLICATION SIGN} 1.00 USD" in page

    page = client.get(f"/orders/{awaiting.pk}").content.decode()
    assert f'href="{awaiting.checkout_url}"' in page
    assert f'action="/orders/{awaiting.pk}/cancel"' in page


def test_another_buyers_order_page_is_a_404(
    client: Client, two_orders: tuple[Order, Order]
) -> None:
    instant, awaiting = two_orders
    client.force_login(UserFactory.create())

    for order in (instant, awaiting):
        assert client.get(f"/orders/{order.pk}").status_code == 404
    assert client.get("/orders/999999").status_code == 404


def test_my_orders_pages_need_an_account(client: Client, two_orders: tuple[Order, Order]) -> None:
    instant, _ = two_orders
    for url in ("/orders", f"/orders/{instant.pk}"):
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"] == f"/login?next={url}"


def test_cancelling_releases_the_units_and_returns_to_the_list(
    client: Client, buyer: User, two_orders: tuple[Order, Order]
) -> None:
    _, awaiting = two_orders
    client.force_login(buyer)

    response = client.post(f"/orders/{awaiting.pk}/cancel", {"next": "/orders"})

    assert response.status_code == 302
    assert response["Location"] == "/orders"
    awaiting.refresh_from_db()
    assert awaiting.status == Order.Status.CANCELLED
    assert available(awaiting.listing) == 5
    page = client.get("/orders").content.decode()
    assert f"Order #{awaiting.pk} is cancelled: its 2 units went back on sale" in page
    assert '<span class="badge cancelled">Cancelled</span>' in page


def test_cancelling_a_fulfilled_order_says_why_not(
    client: Client, buyer: User, two_orders: tuple[Order, Order]
) -> None:
    instant, _ = two_orders
    client.force_login(buyer)

    response = client.post(f"/orders/{instant.pk}/cancel", follow=True)

    assert response.redirect_chain == [(f"/orders/{instant.pk}", 302)]
    assert "Only orders awaiting payment can be cancelled" in response.content.decode()
    instant.refresh_from_db()
    assert instant.status == Order.Status.FULFILLED


def test_cancel_goes_nowhere_outside_the_site(
    client: Client, buyer: User, two_orders: tuple[Order, Order]
) -> None:
    _, awaiting = two_orders
    client.force_login(buyer)
    response = client.post(f"/orders/{awaiting.pk}/cancel", {"next": "https://evil.test/"})
    assert response["Location"] == f"/orders/{awaiting.pk}"


def test_nobody_else_can_cancel_my_order(client: Client, two_orders: tuple[Order, Order]) -> None:
    _, awaiting = two_orders
    client.force_login(UserFactory.create())

    assert client.post(f"/orders/{awaiting.pk}/cancel").status_code == 404
    awaiting.refresh_from_db()
    assert awaiting.status == Order.Status.AWAITING_PAYMENT

    anonymous = Client()
    response = anonymous.post(f"/orders/{awaiting.pk}/cancel")
    assert response["Location"] == f"/login?next=/orders/{awaiting.pk}"
    assert client.get(f"/orders/{awaiting.pk}/cancel").status_code == 405


# --- A fixed number of queries --------------------------------------------------------------


def _orders(buyer: User, count: int) -> None:
    """`count` orders, each of another seller's listing (a per-row lookup would show)."""
    for n in range(count):
        listing = make_listing(units=2, price="0.50", service_name=f"Feed {n}")
        order_create(buyer=buyer, listing_id=listing.pk, units=2)


def test_my_orders_makes_as_many_queries_for_50_orders_as_for_1(
    client: Client, buyer: User
) -> None:
    client.force_login(buyer)
    _orders(buyer, 1)
    with_one = queries_for(client, "/orders")
    _orders(buyer, 49)

    assert queries_for(client, "/orders") == with_one


def test_order_page_makes_as_many_queries_for_50_tokens_as_for_1(
    client: Client, buyer: User
) -> None:
    client.force_login(buyer)
    one = order_create(buyer=buyer, listing_id=make_listing(units=1).pk, units=1).order
    many = order_create(
        buyer=buyer, listing_id=make_listing(units=50, price="0.10").pk, units=50
    ).order

    assert queries_for(client, f"/orders/{many.pk}") == queries_for(client, f"/orders/{one.pk}")

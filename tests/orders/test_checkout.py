"""SPEC §5 checkout path: orders over SMALL_ORDER_LIMIT reserve units and open a Stripe
Checkout Session; if Stripe fails the reservation is rolled back, never left without a session.

The real `stripe` SDK talks HTTP to the local stand-in of tests/stripe_fake.py.
"""

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import User
from listings.models import Listing
from orders.models import Order
from tests.factories import UserFactory, make_listing
from tests.orders.helpers import available
from tests.stripe_fake import FakeStripe

pytestmark = pytest.mark.django_db

ORDERS = "/api/v1/orders"
WEBHOOK = "/api/v1/payments/stripe/webhook"
CREATE_SESSION = ("POST", "/v1/checkout/sessions")

Client = Callable[[User], APIClient]


def _buy(api: APIClient, listing: Listing, units: int, **headers: Any) -> Any:
    return api.post(ORDERS, {"listing_id": listing.pk, "units": units}, format="json", **headers)


def _no_reservation_without_session() -> None:
    assert not Order.objects.filter(status="awaiting_payment", checkout_session_id="").exists()


def test_checkout_order_reserves_units_and_answers_with_stripes_url(
    fake_stripe: FakeStripe, client_for: Client, buyer: User
) -> None:
    listing = make_listing(units=10, price="4.00")
    api = client_for(buyer)

    response = _buy(api, listing, 3)

    assert response.status_code == 201, response.content
    order = response.json()
    assert order["status"] == "awaiting_payment"
    assert order["payment_requires_confirmation"] is True
    assert order["total_price"] == "12.00"
    assert order["tokens_issued"] == 0
    session = fake_stripe.session_for(order["id"])
    assert order["checkout_url"] == session["url"]
    assert available(listing) == 7
    assert api.get("/api/v1/tokens").json()["count"] == 0


def test_stripe_receives_the_server_price_in_cents_and_the_order(
    fake_stripe: FakeStripe, client_for: Client, buyer: User, settings: Any
) -> None:
    # 1.15 * 100 is 114.99999999999999 in binary floating point: the Decimal path gives 115.
    listing = make_listing(units=10, price="1.15")
    before = timezone.now()

    order = _buy(client_for(buyer), listing, 5).json()

    after = timezone.now()
    session = fake_stripe.session_for(order["id"])
    params = session["params"]
    assert params["line_items[0][price_data][unit_amount]"] == "115"
    assert params["line_items[0][quantity]"] == "5"
    assert params["line_items[0][price_data][currency]"] == "usd"
    assert params["mode"] == "payment"
    assert params["metadata[order_id]"] == str(order["id"])
    assert session["amount_total"] == 575
    # The session stays payable for the whole reservation (Stripe's floor is 30 minutes).
    minutes = max(settings.RESERVATION_MINUTES, 30)
    expires_at = session["expires_at"]
    assert (before + timedelta(minutes=minutes)).timestamp() - 1 <= expires_at
    assert expires_at <= (after + timedelta(minutes=minutes, seconds=60)).timestamp()
    for url in (params["success_url"], params["cancel_url"]):
        assert url.startswith(settings.SITE_URL + "/checkout/")
    assert params["success_url"].endswith("/success")
    assert params["cancel_url"].endswith("/cancel")


def test_session_creation_carries_an_idempotency_key(
    fake_stripe: FakeStripe, client_for: Client, buyer: User
) -> None:
    listing = make_listing(units=10, price="4.00")

    order = _buy(client_for(buyer), listing, 2).json()

    [headers] = [h for method, path, h in fake_stripe.received if (method, path) == CREATE_SESSION]
    key = headers.get("Idempotency-Key")
    assert key
    assert str(order["id"]) in key


@pytest.mark.parametrize("minutes", [10, 90])
def test_session_expiry_follows_the_reservation(
    fake_stripe: FakeStripe, client_for: Client, buyer: User, settings: Any, minutes: int
) -> None:
    settings.RESERVATION_MINUTES = minutes
    listing = make_listing(units=10, price="4.00")

    order = _buy(client_for(buyer), listing, 2).json()

    expected = timezone.now() + timedelta(minutes=max(minutes, 30))
    assert abs(fake_stripe.session_for(order["id"])["expires_at"] - expected.timestamp()) < 90


@pytest.mark.parametrize(
    ("failure", "status"), [("down", 503), ("refuse", 502)], ids=["stripe-down", "stripe-refuses"]
)
def test_stripe_failure_gives_the_units_back(
    fake_stripe: FakeStripe, client_for: Client, buyer: User, failure: str, status: int
) -> None:
    listing = make_listing(units=10, price="4.00")
    setattr(fake_stripe, failure, True)

    response = _buy(client_for(buyer), listing, 3)

    assert response.status_code == status, response.content
    body = response.json()
    assert body["code"] == "payment_provider_error"
    assert "nothing was charged" in body["detail"]
    assert available(listing) == 10
    assert Order.objects.get(buyer=buyer).status == "expired"
    _no_reservation_without_session()
    assert fake_stripe.sessions == {}


def test_stripe_unreachable_gives_the_units_back(
    client_for: Client, buyer: User, settings: Any
) -> None:
    settings.STRIPE_SECRET_KEY = "sk_test_unreachable"
    settings.STRIPE_WEBHOOK_SECRET = "whsec_unreachable"
    settings.STRIPE_API_BASE = "http://127.0.0.1:1"  # nothing listens there
    settings.STRIPE_MAX_NETWORK_RETRIES = 0
    settings.STRIPE_TIMEOUT_SECONDS = 2.0
    listing = make_listing(units=10, price="4.00")

    response = _buy(client_for(buyer), listing, 3)

    assert response.status_code == 503, response.content
    assert response.json()["code"] == "payment_provider_error"
    assert available(listing) == 10
    _no_reservation_without_session()


def test_without_stripe_outside_debug_checkout_orders_are_refused(
    client_for: Client, buyer: User, settings: Any
) -> None:
    settings.STRIPE_SECRET_KEY = ""
    settings.DEBUG = False
    listing = make_listing(units=10, price="4.00")

    response = _buy(client_for(buyer), listing, 3)

    assert response.status_code == 503, response.content
    assert response.json()["code"] == "payments_unavailable"
    assert available(listing) == 10
    assert not Order.objects.exists()
    # Small orders still go through instantly.
    assert _buy(client_for(buyer), listing, 1).json()["status"] == "fulfilled"


def test_a_retried_checkout_order_returns_the_first_session(
    fake_stripe: FakeStripe, client_for: Client, buyer: User
) -> None:
    listing = make_listing(units=10, price="4.00")
    api = client_for(buyer)

    first = _buy(api, listing, 3, HTTP_IDEMPOTENCY_KEY="retry-me-1")
    again = _buy(api, listing, 3, HTTP_IDEMPOTENCY_KEY="retry-me-1")

    assert first.status_code == again.status_code == 201
    assert again.json()["id"] == first.json()["id"]
    assert again.json()["checkout_url"] == first.json()["checkout_url"]
    assert again.headers["Idempotent-Replayed"] == "true"
    assert fake_stripe.calls.count(CREATE_SESSION) == 1
    assert len(fake_stripe.sessions) == 1
    assert available(listing) == 7


def test_a_retry_after_stripe_failed_opens_a_new_checkout(
    fake_stripe: FakeStripe, client_for: Client, buyer: User
) -> None:
    listing = make_listing(units=10, price="4.00")
    api = client_for(buyer)
    fake_stripe.down = True
    failed = _buy(api, listing, 3, HTTP_IDEMPOTENCY_KEY="retry-me-2")
    assert failed.status_code == 503
    fake_stripe.down = False

    # The error said "try again": the same request with the same key now goes through.
    retried = _buy(api, listing, 3, HTTP_IDEMPOTENCY_KEY="retry-me-2")

    assert retried.status_code == 201, retried.content
    order = retried.json()
    assert order["status"] == "awaiting_payment"
    assert order["checkout_url"] == fake_stripe.session_for(order["id"])["url"]
    assert "Idempotent-Replayed" not in retried.headers
    assert available(listing) == 7
    again = _buy(api, listing, 3, HTTP_IDEMPOTENCY_KEY="retry-me-2")
    assert again.json()["id"] == order["id"]
    assert len(fake_stripe.sessions) == 1


def test_checkout_url_is_the_buyers_alone(
    fake_stripe: FakeStripe, client_for: Client, buyer: User
) -> None:
    seller = UserFactory.create()
    listing = make_listing(seller=seller, units=10, price="4.00")
    api = client_for(buyer)
    order = _buy(api, listing, 3).json()

    mine = api.get(f"{ORDERS}/{order['id']}")
    sales = client_for(seller).get("/api/v1/sales")

    assert mine.json()["checkout_url"] == order["checkout_url"]
    assert mine.json()["payment_requires_confirmation"] is True
    assert sales.status_code == 200
    [sale] = sales.json()["results"]
    assert sale["id"] == order["id"]
    assert "checkout_url" not in sale
    assert order["checkout_url"] not in sales.content.decode()


def test_checkout_url_disappears_once_the_order_is_settled(
    fake_stripe: FakeStripe, client_for: Client, buyer: User
) -> None:
    listing = make_listing(units=10, price="4.00")
    api = client_for(buyer)
    order = _buy(api, listing, 3).json()
    paid = fake_stripe.pay(fake_stripe.session_for(order["id"])["id"])
    assert fake_stripe.deliver("checkout.session.completed", paid).status_code == 200

    shown = api.get(f"{ORDERS}/{order['id']}").json()

    assert shown["status"] == "fulfilled"
    assert shown["checkout_url"] is None
    assert shown["payment_requires_confirmation"] is False
    assert shown["tokens_issued"] == 3


def test_the_signed_webhook_fulfils_a_checkout_order(
    fake_stripe: FakeStripe, client_for: Client, buyer: User
) -> None:
    listing = make_listing(units=10, price="4.00")
    api = client_for(buyer)
    order = _buy(api, listing, 3).json()
    session = fake_stripe.pay(fake_stripe.session_for(order["id"])["id"])

    response = fake_stripe.deliver("checkout.session.completed", session)

    assert response.status_code == 200, response.content
    assert api.get(f"{ORDERS}/{order['id']}").json()["status"] == "fulfilled"
    assert api.get("/api/v1/tokens").json()["count"] == 3
    assert available(listing) == 7


def test_success_page_settles_a_paid_order_whose_webhook_never_came(
    fake_stripe: FakeStripe, client_for: Client, buyer: User, settings: Any
) -> None:
    listing = make_listing(units=10, price="4.00", service_name="Geo API")
    api = client_for(buyer)
    order = _buy(api, listing, 3).json()
    session = fake_stripe.session_for(order["id"])
    fake_stripe.pay(session["id"])  # paid on Stripe; the webhook is lost

    # Stripe sends the buyer back to the success URL it was given, without our cookie.
    page = APIClient().get(session["success_url"].removeprefix(settings.SITE_URL))

    assert page.status_code == 200
    assert "Payment received" in page.content.decode()
    assert ("GET", f"/v1/checkout/sessions/{session['id']}") in fake_stripe.calls
    shown = api.get(f"{ORDERS}/{order['id']}").json()
    assert shown["status"] == "fulfilled"
    assert shown["tokens_issued"] == 3
    assert (
        Order.objects.get(pk=order["id"]).payment_intent_id
        == fake_stripe.sessions[session["id"]]["payment_intent"]
    )


def test_success_page_of_an_unpaid_order_keeps_it_waiting(
    fake_stripe: FakeStripe, client_for: Client, buyer: User, settings: Any
) -> None:
    listing = make_listing(units=10, price="4.00")
    api = client_for(buyer)
    order = _buy(api, listing, 3).json()
    session = fake_stripe.session_for(order["id"])

    page = APIClient().get(session["success_url"].removeprefix(settings.SITE_URL))

    assert page.status_code == 200
    assert "waiting for the payment confirmation" in page.content.decode()
    assert api.get(f"{ORDERS}/{order['id']}").json()["status"] == "awaiting_payment"
    assert api.get("/api/v1/tokens").json()["count"] == 0

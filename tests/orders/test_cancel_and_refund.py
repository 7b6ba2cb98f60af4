"""SPEC §5: a buyer's cancel releases an awaiting order's units exactly once and expires its
Stripe session; an operator's refund returns the money through Stripe, revokes the tokens and
marks the order refunded, once, without restocking pool units.

The real `stripe` SDK talks HTTP to the local stand-in of tests/stripe_fake.py.
"""

from collections.abc import Callable
from typing import Any

import pytest
from rest_framework.test import APIClient

from accounts.models import User
from listings.models import Listing
from orders.models import Order
from tests.factories import UserFactory, make_listing
from tests.orders.helpers import available, checkout_order
from tests.stripe_fake import FakeStripe

pytestmark = pytest.mark.django_db

ORDERS = "/api/v1/orders"
REFUND_CALL = ("POST", "/v1/refunds")

Client = Callable[[User], APIClient]


def _paid_order(
    fake: FakeStripe, api: APIClient, listing: Listing, units: int = 3
) -> dict[str, Any]:
    """An order paid on Stripe and fulfilled by its signed webhook."""
    order = checkout_order(api, listing, units)
    session = fake.pay(fake.session_for(order["id"])["id"])
    response = fake.deliver("checkout.session.completed", session)
    assert response.status_code == 200, response.content
    paid: dict[str, Any] = api.get(f"{ORDERS}/{order['id']}").json()
    assert paid["status"] == "fulfilled"
    return paid


def _expire_call(fake: FakeStripe, order_id: int) -> tuple[str, str]:
    return ("POST", f"/v1/checkout/sessions/{fake.session_for(order_id)['id']}/expire")


@pytest.fixture
def operator(db: None) -> User:
    return UserFactory.create(is_staff=True)


# --- Cancel -------------------------------------------------------------------------------


def test_buyer_cancel_releases_units_and_expires_the_session(
    fake_stripe: FakeStripe, client_for: Client, buyer: User
) -> None:
    listing = make_listing(units=10, price="4.00")
    api = client_for(buyer)
    order = checkout_order(api, listing)
    assert available(listing) == 7

    response = api.post(f"{ORDERS}/{order['id']}/cancel")

    assert response.status_code == 200, response.content
    assert response.json()["status"] == "cancelled"
    assert response.json()["checkout_url"] is None
    assert available(listing) == 10
    assert _expire_call(fake_stripe, order["id"]) in fake_stripe.calls
    assert fake_stripe.session_for(order["id"])["status"] == "expired"


def test_cancelling_twice_releases_once(
    fake_stripe: FakeStripe, client_for: Client, buyer: User
) -> None:
    listing = make_listing(units=10, price="4.00")
    api = client_for(buyer)
    order = checkout_order(api, listing)

    first = api.post(f"{ORDERS}/{order['id']}/cancel")
    second = api.post(f"{ORDERS}/{order['id']}/cancel")

    assert first.status_code == second.status_code == 200
    assert second.json()["status"] == "cancelled"
    assert available(listing) == 10
    assert fake_stripe.calls.count(_expire_call(fake_stripe, order["id"])) == 1


def test_a_fulfilled_order_cannot_be_cancelled(
    fake_stripe: FakeStripe, client_for: Client, buyer: User
) -> None:
    listing = make_listing(units=10, price="4.00")
    api = client_for(buyer)
    order = _paid_order(fake_stripe, api, listing)

    response = api.post(f"{ORDERS}/{order['id']}/cancel")

    assert response.status_code == 409, response.content
    assert response.json()["code"] == "order_state_conflict"
    assert api.get(f"{ORDERS}/{order['id']}").json()["status"] == "fulfilled"
    assert available(listing) == 7


def test_someone_elses_order_cannot_be_cancelled(
    fake_stripe: FakeStripe, client_for: Client, buyer: User
) -> None:
    listing = make_listing(units=10, price="4.00")
    order = checkout_order(client_for(buyer), listing)

    response = client_for(UserFactory.create()).post(f"{ORDERS}/{order['id']}/cancel")

    assert response.status_code == 404, response.content
    assert Order.objects.get(pk=order["id"]).status == "awaiting_payment"
    assert available(listing) == 7
    assert _expire_call(fake_stripe, order["id"]) not in fake_stripe.calls


def test_cancel_page_cancels_through_the_signed_link(
    fake_stripe: FakeStripe, client_for: Client, buyer: User, settings: Any
) -> None:
    listing = make_listing(units=10, price="4.00")
    order = checkout_order(client_for(buyer), listing)
    # Stripe sends the buyer to the cancel URL it was given, without our session cookie.
    path = fake_stripe.session_for(order["id"])["cancel_url"].removeprefix(settings.SITE_URL)
    page = APIClient()

    shown = page.get(path)
    assert shown.status_code == 200
    assert "held for you" in shown.content.decode()
    assert available(listing) == 7

    cancelled = page.post(path)

    assert cancelled.status_code == 200
    assert "cancelled and its units released" in cancelled.content.decode()
    assert Order.objects.get(pk=order["id"]).status == "cancelled"
    assert available(listing) == 10
    assert _expire_call(fake_stripe, order["id"]) in fake_stripe.calls

    again = page.post(path)  # a double submit changes nothing
    assert again.status_code == 200
    assert available(listing) == 10
    assert fake_stripe.calls.count(_expire_call(fake_stripe, order["id"])) == 1


def test_cancel_page_of_a_paid_order_says_why_and_changes_nothing(
    fake_stripe: FakeStripe, client_for: Client, buyer: User, settings: Any
) -> None:
    listing = make_listing(units=10, price="4.00")
    order = _paid_order(fake_stripe, client_for(buyer), listing)
    path = fake_stripe.session_for(order["id"])["cancel_url"].removeprefix(settings.SITE_URL)

    response = APIClient().post(path)

    assert response.status_code == 200
    assert "Only orders awaiting payment can be cancelled" in response.content.decode()
    assert Order.objects.get(pk=order["id"]).status == "fulfilled"
    assert available(listing) == 7


# --- Refund -------------------------------------------------------------------------------


def test_operator_refund_returns_the_money_and_revokes_the_tokens(
    fake_stripe: FakeStripe, client_for: Client, buyer: User, operator: User
) -> None:
    listing = make_listing(units=10, price="4.00")
    api = client_for(buyer)
    order = _paid_order(fake_stripe, api, listing)
    assert {t["status"] for t in api.get("/api/v1/tokens").json()["results"]} == {"live"}
    payment_intent = fake_stripe.session_for(order["id"])["payment_intent"]

    response = client_for(operator).post(f"{ORDERS}/{order['id']}/refund")

    assert response.status_code == 200, response.content
    assert response.json()["status"] == "refunded"
    assert response.json()["tokens_revoked"] == 3
    [refund] = fake_stripe.refunds
    assert refund["payment_intent"] == payment_intent
    assert refund["metadata"]["order_id"] == str(order["id"])
    [(_, _, headers)] = [r for r in fake_stripe.received if r[:2] == REFUND_CALL]
    assert headers.get("Idempotency-Key")
    tokens = api.get("/api/v1/tokens").json()["results"]
    assert len(tokens) == 3
    assert all(t["status"] == "revoked" and t["secret"] is None for t in tokens)
    shown = api.get(f"{ORDERS}/{order['id']}").json()
    assert shown["status"] == "refunded"
    assert shown["refunded_at"] is not None


def test_refunding_twice_refunds_once(
    fake_stripe: FakeStripe, client_for: Client, buyer: User, operator: User
) -> None:
    order = _paid_order(fake_stripe, client_for(buyer), make_listing(units=10, price="4.00"))
    staff = client_for(operator)

    first = staff.post(f"{ORDERS}/{order['id']}/refund")
    second = staff.post(f"{ORDERS}/{order['id']}/refund")

    assert first.status_code == second.status_code == 200
    assert second.json()["status"] == "refunded"
    assert fake_stripe.calls.count(REFUND_CALL) == 1
    assert len(fake_stripe.refunds) == 1


def test_only_operators_refund(
    fake_stripe: FakeStripe, client_for: Client, buyer: User, seller: User
) -> None:
    listing = make_listing(seller=seller, units=10, price="4.00")
    api = client_for(buyer)
    order = _paid_order(fake_stripe, api, listing)

    by_buyer = api.post(f"{ORDERS}/{order['id']}/refund")
    by_seller = client_for(seller).post(f"{ORDERS}/{order['id']}/refund")
    by_stranger = client_for(UserFactory.create()).post(f"{ORDERS}/{order['id']}/refund")

    assert by_buyer.status_code == 403, by_buyer.content
    assert by_seller.status_code == 404, by_seller.content
    assert by_stranger.status_code == 404, by_stranger.content
    assert fake_stripe.refunds == []
    assert api.get(f"{ORDERS}/{order['id']}").json()["status"] == "fulfilled"
    assert {t["status"] for t in api.get("/api/v1/tokens").json()["results"]} == {"live"}


def test_an_unknown_order_is_404_for_operators(client_for: Client, operator: User) -> None:
    assert client_for(operator).post(f"{ORDERS}/999999/refund").status_code == 404


def test_an_awaiting_order_cannot_be_refunded(
    fake_stripe: FakeStripe, client_for: Client, buyer: User, operator: User
) -> None:
    listing = make_listing(units=10, price="4.00")
    order = checkout_order(client_for(buyer), listing)

    response = client_for(operator).post(f"{ORDERS}/{order['id']}/refund")

    assert response.status_code == 409, response.content
    assert Order.objects.get(pk=order["id"]).status == "awaiting_payment"
    assert fake_stripe.calls.count(REFUND_CALL) == 0
    assert available(listing) == 7


def test_stripe_down_during_refund_changes_nothing(
    fake_stripe: FakeStripe, client_for: Client, buyer: User, operator: User
) -> None:
    api = client_for(buyer)
    order = _paid_order(fake_stripe, api, make_listing(units=10, price="4.00"))
    fake_stripe.down = True

    response = client_for(operator).post(f"{ORDERS}/{order['id']}/refund")

    assert response.status_code == 503, response.content
    assert response.json()["code"] == "payment_provider_error"
    assert api.get(f"{ORDERS}/{order['id']}").json()["status"] == "fulfilled"
    tokens = api.get("/api/v1/tokens").json()["results"]
    assert all(t["status"] == "live" and t["secret"] for t in tokens)

    fake_stripe.down = False  # Stripe is back: the operator's retry goes through, once
    assert client_for(operator).post(f"{ORDERS}/{order['id']}/refund").status_code == 200
    assert len(fake_stripe.refunds) == 1


def test_a_payment_refunded_on_stripes_dashboard_is_finished_here(
    fake_stripe: FakeStripe, client_for: Client, buyer: User, operator: User
) -> None:
    api = client_for(buyer)
    order = _paid_order(fake_stripe, api, make_listing(units=10, price="4.00"))
    fake_stripe.refund_on_dashboard(fake_stripe.session_for(order["id"])["payment_intent"])

    response = client_for(operator).post(f"{ORDERS}/{order['id']}/refund")

    assert response.status_code == 200, response.content
    assert response.json()["status"] == "refunded"
    assert fake_stripe.refunds == []  # Stripe refused the second refund; the first stands
    tokens = api.get("/api/v1/tokens").json()["results"]
    assert tokens and all(t["status"] == "revoked" and t["secret"] is None for t in tokens)


def test_an_instant_order_is_refunded_without_stripe(
    fake_stripe: FakeStripe, client_for: Client, buyer: User, operator: User
) -> None:
    listing = make_listing(units=10, price="1.00")
    api = client_for(buyer)
    order = api.post(ORDERS, {"listing_id": listing.pk, "units": 2}, format="json").json()
    assert order["status"] == "fulfilled"

    response = client_for(operator).post(f"{ORDERS}/{order['id']}/refund")

    assert response.status_code == 200, response.content
    assert response.json()["status"] == "refunded"
    assert fake_stripe.calls == []
    tokens = api.get("/api/v1/tokens").json()["results"]
    assert [t["status"] for t in tokens] == ["revoked", "revoked"]


def test_a_refund_does_not_restock_a_pool_listing(
    fake_stripe: FakeStripe, client_for: Client, buyer: User, operator: User
) -> None:
    listing = make_listing(pool=[f"pool-secret-{i:04}" for i in range(5)], price="2.00")
    api = client_for(buyer)
    order = _paid_order(fake_stripe, api, listing, units=3)
    assert available(listing) == 2

    response = client_for(operator).post(f"{ORDERS}/{order['id']}/refund")

    assert response.status_code == 200, response.content
    assert available(listing) == 2
    # The refunded order's secrets stay delivered: the next buyer gets only the two never sold.
    other = client_for(UserFactory.create())
    bought = other.post(ORDERS, {"listing_id": listing.pk, "units": 2}, format="json")
    assert bought.json()["status"] == "fulfilled"
    secrets = {t["secret"] for t in other.get("/api/v1/tokens").json()["results"]}
    assert secrets == {"pool-secret-0003", "pool-secret-0004"}
    assert available(listing) == 0

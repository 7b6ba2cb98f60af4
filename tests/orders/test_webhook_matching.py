"""Issue 14, class 2: a webhook event must match what it pays for.

A signed event names its order only through metadata that anyone creating a Checkout Session
on the same Stripe account can set (a second site sharing the account, a session made in the
dashboard or by a script). So an event applies to an order only when its session id, amount
and currency are the ones recorded for that order; otherwise nothing happens, the event is
acknowledged (2xx, Stripe must not retry it), logged and audited.
"""

import logging
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

import pytest
from rest_framework.test import APIClient, APIRequestFactory

from accounts.models import User
from audit.models import AuditAction, AuditEntry
from listings.models import Listing
from orders import stripe_gateway
from orders.apis import StripeWebhookApi
from orders.models import Order, StripeEvent
from orders.reservations import reservations_sweep
from orders.webhooks import RecordedPayment, payment_mismatches
from tests.factories import UserFactory, bearer_token, make_listing
from tests.stripe_fake import FakeStripe
from tokens_vault.models import Token

pytestmark = pytest.mark.django_db

WEBHOOK = "/api/v1/payments/stripe/webhook"
COMPLETED = "checkout.session.completed"
ASYNC_SUCCEEDED = "checkout.session.async_payment_succeeded"
ASYNC_FAILED = "checkout.session.async_payment_failed"
EXPIRED = "checkout.session.expired"


def _buy(buyer: User, listing: Listing, units: int = 3) -> int:
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {bearer_token(buyer)}")
    response = api.post("/api/v1/orders", {"listing_id": listing.pk, "units": units}, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["status"] == "awaiting_payment"
    order_id: int = response.json()["id"]
    return order_id


def _send(fake: FakeStripe, event_type: str, session: dict[str, Any], event_id: str) -> Any:
    payload = fake.event(event_type, session, event_id=event_id)
    headers: dict[str, Any] = fake.signed(payload)
    return APIClient().post(WEBHOOK, payload, content_type="application/json", **headers)


def _unchanged(order_id: int, listing: Listing, *, available: int) -> None:
    order = Order.objects.get(pk=order_id)
    listing.refresh_from_db()
    assert order.status == "awaiting_payment"
    assert order.payment_intent_id == ""
    assert not Token.objects.filter(order_id=order_id).exists()
    assert (listing.available_units, listing.units_sold) == (available, 0)


def _mismatch_recorded(order_id: int, event_id: str, caplog: pytest.LogCaptureFixture) -> str:
    """The event is stored as a mismatch for the order, logged and audited; the audit text."""
    event = StripeEvent.objects.get(event_id=event_id)
    assert (event.outcome, event.order_id) == ("mismatch", order_id)
    [line] = [r for r in caplog.records if r.name == "orders.webhooks" and event_id in r.message]
    assert line.levelno == logging.WARNING
    assert f"order {order_id}" in line.message
    [entry] = AuditEntry.objects.filter(
        action=AuditAction.ORDER_PAYMENT_MISMATCH, target_type="order", target_id=str(order_id)
    )
    assert entry.actor_id is None
    assert event_id in entry.summary
    return entry.summary


Forge = Callable[[dict[str, Any], dict[str, Any]], dict[str, Any]]


def _cheaper(session: dict[str, Any], other: dict[str, Any]) -> dict[str, Any]:
    return {**session, "amount_total": session["amount_total"] - 1}


def _in_cents_as_units(session: dict[str, Any], other: dict[str, Any]) -> dict[str, Any]:
    return {**session, "amount_total": session["amount_total"] // 100}


def _other_currency(session: dict[str, Any], other: dict[str, Any]) -> dict[str, Any]:
    return {**session, "currency": "eur"}


def _another_session(session: dict[str, Any], other: dict[str, Any]) -> dict[str, Any]:
    """A session paid on the same account for something else, its metadata naming our order."""
    return {**other, "metadata": session["metadata"], "client_reference_id": str(0)}


def _made_up_session_id(session: dict[str, Any], other: dict[str, Any]) -> dict[str, Any]:
    return {**session, "id": "cs_test_" + "0" * 24}


FORGERIES = [_cheaper, _in_cents_as_units, _other_currency, _another_session, _made_up_session_id]
FIELD_OF: dict[Forge, str] = {
    _cheaper: "amount",
    _in_cents_as_units: "amount",
    _other_currency: "currency",
    _another_session: "session id",
    _made_up_session_id: "session id",
}


@pytest.mark.parametrize("event_type", [COMPLETED, ASYNC_SUCCEEDED])
@pytest.mark.parametrize("forge", FORGERIES, ids=lambda forge: forge.__name__.strip("_"))
def test_a_paid_event_that_does_not_match_the_order_fulfils_nothing(
    fake_stripe: FakeStripe,
    buyer: User,
    caplog: pytest.LogCaptureFixture,
    forge: Forge,
    event_type: str,
) -> None:
    listing = make_listing(units=10, price="4.00")
    order_id = _buy(buyer, listing)
    other_id = _buy(UserFactory.create(), make_listing(units=10, price="4.00"))
    session = fake_stripe.pay(fake_stripe.session_for(order_id)["id"])
    other = fake_stripe.pay(fake_stripe.session_for(other_id)["id"])

    with caplog.at_level(logging.WARNING, logger="orders.webhooks"):
        response = _send(fake_stripe, event_type, forge(session, other), "evt_forged")

    assert response.status_code == 200, response.content
    assert response.json() == {"received": True, "outcome": "mismatch"}
    _unchanged(order_id, listing, available=7)
    summary = _mismatch_recorded(order_id, "evt_forged", caplog)
    assert summary.startswith(FIELD_OF[forge])

    # The real event for the order still fulfils it.
    paid = _send(fake_stripe, event_type, session, "evt_real")

    assert paid.json() == {"received": True, "outcome": "fulfilled"}
    assert Order.objects.get(pk=order_id).status == "fulfilled"
    assert Token.objects.filter(order_id=order_id).count() == 3


def test_a_paid_event_for_an_instant_order_fulfils_nothing(
    fake_stripe: FakeStripe, buyer: User, caplog: pytest.LogCaptureFixture
) -> None:
    """An order paid without Stripe has no session: no event can be its payment."""
    listing = make_listing(units=10, price="1.00")
    order_id = _buy(UserFactory.create(), make_listing(units=10, price="4.00"))
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {bearer_token(buyer)}")
    instant = api.post("/api/v1/orders", {"listing_id": listing.pk, "units": 3}, format="json")
    assert instant.json()["status"] == "fulfilled"
    session = fake_stripe.pay(fake_stripe.session_for(order_id)["id"])
    claim = {
        **session,
        "amount_total": 300,
        "metadata": {"order_id": str(instant.json()["id"])},
    }

    with caplog.at_level(logging.WARNING, logger="orders.webhooks"):
        response = _send(fake_stripe, COMPLETED, claim, "evt_instant")

    assert response.json()["outcome"] == "mismatch"
    assert Token.objects.filter(order_id=instant.json()["id"]).count() == 3
    summary = _mismatch_recorded(instant.json()["id"], "evt_instant", caplog)
    assert "none saved yet" in summary


@pytest.mark.parametrize("event_type", [EXPIRED, ASYNC_FAILED])
def test_a_releasing_event_for_another_session_keeps_the_units_held(
    fake_stripe: FakeStripe, buyer: User, caplog: pytest.LogCaptureFixture, event_type: str
) -> None:
    listing = make_listing(units=10, price="4.00")
    order_id = _buy(buyer, listing)
    other_id = _buy(UserFactory.create(), make_listing(units=10, price="4.00"))
    session = fake_stripe.session_for(order_id)
    other = fake_stripe.expire_on_stripe(fake_stripe.session_for(other_id)["id"])
    claim = {**other, "metadata": session["metadata"]}

    with caplog.at_level(logging.WARNING, logger="orders.webhooks"):
        response = _send(fake_stripe, event_type, claim, "evt_foreign_expiry")

    assert response.status_code == 200, response.content
    assert response.json()["outcome"] == "mismatch"
    _unchanged(order_id, listing, available=7)
    assert _mismatch_recorded(order_id, "evt_foreign_expiry", caplog).startswith("session id")

    # The order's own session expiring still gives the units back.
    own = _send(
        fake_stripe, event_type, fake_stripe.expire_on_stripe(session["id"]), "evt_own_expiry"
    )

    assert own.json()["outcome"] == "released"
    listing.refresh_from_db()
    assert listing.available_units == 10


class _PaysBeforeTheIdIsSaved:
    """Stripe creates the session, the buyer pays and Stripe's event arrives, all before
    `_start_checkout` has saved the session id on the order."""

    def __init__(self, fake: FakeStripe) -> None:
        self.fake = fake
        self.create = stripe_gateway.checkout_session_create
        self.answer: Any = None
        self.session: dict[str, Any] = {}

    def __call__(self, **params: Any) -> stripe_gateway.CheckoutSession:
        created = self.create(**params)
        self.session = self.fake.pay(created.id)
        payload = self.fake.event(COMPLETED, self.session, event_id="evt_early")
        request = APIRequestFactory().post(
            WEBHOOK, payload, content_type="application/json", **self.fake.signed(payload)
        )
        self.answer = StripeWebhookApi.as_view()(request)
        return created


@pytest.mark.parametrize("settled_by", ["success page", "reservation sweep"])
def test_an_event_that_beats_the_saved_session_id_is_settled_from_stripe_later(
    fake_stripe: FakeStripe,
    buyer: User,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    settled_by: str,
) -> None:
    """The early event cannot be checked, so it fulfils nothing, but the payment is not lost:
    the buyer's return to the success page, or else the sweep at the reservation's end,
    reads the saved session from Stripe and fulfils the order."""
    early = _PaysBeforeTheIdIsSaved(fake_stripe)
    monkeypatch.setattr(stripe_gateway, "checkout_session_create", early)
    listing = make_listing(units=10, price="4.00")

    with caplog.at_level(logging.WARNING, logger="orders.webhooks"):
        order_id = _buy(buyer, listing)

    assert early.answer.status_code == 200
    assert early.answer.data == {"received": True, "outcome": "mismatch"}
    assert "none saved yet" in _mismatch_recorded(order_id, "evt_early", caplog)
    order = Order.objects.get(pk=order_id)
    assert order.checkout_session_id == early.session["id"]
    _unchanged(order_id, listing, available=7)

    if settled_by == "success page":
        page = APIClient().get(urlsplit(early.session["success_url"]).path)
        assert page.status_code == 200
        assert "Payment received" in page.content.decode()
    else:
        assert order.reserved_until is not None
        report = reservations_sweep(now=order.reserved_until + timedelta(seconds=1))
        assert report.fulfilled == 1

    order.refresh_from_db()
    assert order.status == "fulfilled"
    assert order.payment_intent_id == early.session["payment_intent"]
    assert Token.objects.filter(order_id=order_id).count() == 3
    assert fake_stripe.refunds == []


def test_the_rule_in_one_function() -> None:
    """For top-ups and Connect events later: one rule, on plain values."""
    recorded = RecordedPayment(stripe_id="cs_1", amount=Decimal("12.30"), currency="EUR")

    assert payment_mismatches(recorded, stripe_id="cs_1", amount_cents=1230, currency="eur") == []
    assert payment_mismatches(recorded, stripe_id="cs_2", amount_cents="1230", currency="EUR") == [
        "session id",
        "amount",
        "currency",
    ]
    assert payment_mismatches(recorded, stripe_id="cs_1", amount_cents=True, currency="eur") == [
        "amount"
    ]
    unsaved = RecordedPayment(stripe_id="", amount=recorded.amount, currency="EUR")
    assert payment_mismatches(unsaved, stripe_id="", amount_cents=1230, currency="eur") == [
        "session id"
    ]

"""SPEC §5 webhooks: Stripe's signed events, each applied at most once, in any order.

The real `stripe` SDK creates the Checkout Sessions on a local Stripe stand-in
(tests/stripe_fake.py); events are signed exactly as Stripe signs them and posted to
/api/v1/payments/stripe/webhook as raw bytes.
"""

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from rest_framework.test import APIClient

from accounts.models import User
from listings.models import Listing
from orders.models import Order, StripeEvent
from tests.factories import UserFactory, bearer_token, make_listing
from tests.outages import database_down
from tests.stripe_fake import FakeStripe, stripe_signature
from tests.threads import all_at_once
from tokens_vault.models import Token

pytestmark = pytest.mark.django_db

WEBHOOK = "/api/v1/payments/stripe/webhook"
TOLERANCE_SECONDS = 300  # settings.STRIPE_WEBHOOK_TOLERANCE_SECONDS, Stripe's default

COMPLETED = "checkout.session.completed"
ASYNC_SUCCEEDED = "checkout.session.async_payment_succeeded"
ASYNC_FAILED = "checkout.session.async_payment_failed"
EXPIRED = "checkout.session.expired"


@dataclass
class Checkout:
    """An order on the checkout path, its units reserved and its session open on Stripe."""

    order_id: int
    listing_id: int
    session_id: str
    units: int


def _checkout(
    fake: FakeStripe, buyer: User, *, listing: Listing | None = None, units: int = 3
) -> Checkout:
    listing = listing or make_listing(units=10, price="4.00")  # 3 x 4.00 > SMALL_ORDER_LIMIT
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {bearer_token(buyer)}")
    response = client.post(
        "/api/v1/orders", {"listing_id": listing.pk, "units": units}, format="json"
    )
    assert response.status_code == 201, response.content
    assert response.json()["status"] == "awaiting_payment"
    order_id = response.json()["id"]
    session = fake.session_for(order_id)
    return Checkout(order_id, listing.pk, session["id"], units)


def _deliver(payload: bytes, headers: dict[str, Any]) -> Any:
    return APIClient().post(WEBHOOK, payload, content_type="application/json", **headers)


def _deliver_signed(fake: FakeStripe, payload: bytes) -> Any:
    response = _deliver(payload, fake.signed(payload))
    assert response.status_code == 200, response.content
    return response


def _status(order_id: int) -> str:
    return Order.objects.get(pk=order_id).status


def _tokens(order_id: int) -> int:
    return Token.objects.filter(order_id=order_id).count()


def _available(listing_id: int) -> int:
    return Listing.objects.get(pk=listing_id).available_units


def _sold(listing_id: int) -> int:
    return Listing.objects.get(pk=listing_id).units_sold


# --- the signature ----------------------------------------------------------------------


@pytest.mark.parametrize("age_seconds", [0, TOLERANCE_SECONDS - 60])
def test_a_signed_paid_completion_fulfils_the_order_and_is_recorded(
    fake_stripe: FakeStripe, buyer: User, age_seconds: int
) -> None:
    checkout = _checkout(fake_stripe, buyer)
    session = fake_stripe.pay(checkout.session_id)
    payload = fake_stripe.event(COMPLETED, session, event_id="evt_paid_1")

    response = _deliver(payload, fake_stripe.signed(payload, int(time.time()) - age_seconds))

    assert response.status_code == 200, response.content
    assert response.json() == {"received": True, "outcome": "fulfilled"}
    order = Order.objects.get(pk=checkout.order_id)
    assert order.status == "fulfilled"
    assert order.payment_intent_id == session["payment_intent"]
    assert _tokens(checkout.order_id) == 3
    assert _available(checkout.listing_id) == 7
    assert _sold(checkout.listing_id) == 3
    event = StripeEvent.objects.get()
    assert (event.event_id, event.type, event.order_id, event.outcome) == (
        "evt_paid_1",
        COMPLETED,
        checkout.order_id,
        "fulfilled",
    )
    buyer_api = APIClient()
    buyer_api.credentials(HTTP_AUTHORIZATION=f"Bearer {bearer_token(buyer)}")
    assert buyer_api.get("/api/v1/tokens").json()["count"] == 3


def _bad_signature(fake: FakeStripe, payload: bytes) -> tuple[bytes, dict[str, str]]:
    return payload, {"HTTP_STRIPE_SIGNATURE": f"t={int(time.time())},v1={'0' * 64}"}


def _wrong_secret(fake: FakeStripe, payload: bytes) -> tuple[bytes, dict[str, str]]:
    header = stripe_signature(payload, "whsec_" + "1" * 32)
    return payload, {"HTTP_STRIPE_SIGNATURE": header}


def _stale_timestamp(fake: FakeStripe, payload: bytes) -> tuple[bytes, dict[str, str]]:
    return payload, fake.signed(payload, int(time.time()) - TOLERANCE_SECONDS - 60)


def _missing_header(fake: FakeStripe, payload: bytes) -> tuple[bytes, dict[str, str]]:
    return payload, {}


def _unparsable_header(fake: FakeStripe, payload: bytes) -> tuple[bytes, dict[str, str]]:
    return payload, {"HTTP_STRIPE_SIGNATURE": "t=yesterday,v1=abc"}


def _body_changed_after_signing(fake: FakeStripe, payload: bytes) -> tuple[bytes, dict[str, str]]:
    """An unpaid completion, validly signed, then edited to claim it was paid."""
    unpaid = payload.replace(b'"payment_status": "paid"', b'"payment_status": "unpaid"')
    assert unpaid != payload
    return payload, fake.signed(unpaid)


@pytest.mark.parametrize(
    "forge",
    [
        _bad_signature,
        _wrong_secret,
        _stale_timestamp,
        _missing_header,
        _unparsable_header,
        _body_changed_after_signing,
    ],
)
def test_an_unverified_delivery_is_400_and_changes_nothing(
    fake_stripe: FakeStripe,
    buyer: User,
    forge: Callable[[FakeStripe, bytes], tuple[bytes, dict[str, str]]],
) -> None:
    checkout = _checkout(fake_stripe, buyer)
    payload = fake_stripe.event(COMPLETED, fake_stripe.pay(checkout.session_id))
    body, headers = forge(fake_stripe, payload)

    response = _deliver(body, headers)

    assert response.status_code == 400, response.content
    assert not StripeEvent.objects.exists()
    assert _status(checkout.order_id) == "awaiting_payment"
    assert _tokens(checkout.order_id) == 0
    assert _available(checkout.listing_id) == 7
    assert _sold(checkout.listing_id) == 0


def test_without_a_webhook_secret_every_delivery_is_refused(
    fake_stripe: FakeStripe, buyer: User, settings: Any
) -> None:
    checkout = _checkout(fake_stripe, buyer)
    payload = fake_stripe.event(COMPLETED, fake_stripe.pay(checkout.session_id))
    headers = fake_stripe.signed(payload)
    settings.STRIPE_WEBHOOK_SECRET = ""

    assert _deliver(payload, headers).status_code == 400
    assert _status(checkout.order_id) == "awaiting_payment"
    assert not StripeEvent.objects.exists()


@pytest.mark.parametrize(
    "body",
    [
        b'{"id": "evt_cut", "type": "checkout.session.completed", "data": {',
        b"[]",
        b'{"id": "evt_no_object", "type": "checkout.session.completed", "data": {}}',
    ],
    ids=["truncated-json", "json-array", "no-data-object"],
)
def test_a_signed_body_that_is_not_an_event_is_acknowledged_and_applies_nothing(
    fake_stripe: FakeStripe, body: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    """Signed with our secret, so a 400 would only make Stripe send the same bytes again for
    days (issue 14, class 7): acknowledged, logged, nothing stored."""
    with caplog.at_level(logging.WARNING):
        response = _deliver(body, fake_stripe.signed(body))

    assert response.status_code == 200, response.content
    assert response.json() == {"received": True, "outcome": "malformed"}
    assert any("not applied" in record.getMessage() for record in caplog.records)
    assert not StripeEvent.objects.exists()


def test_a_body_that_is_not_utf8_cannot_be_verified_and_is_400(fake_stripe: FakeStripe) -> None:
    body = b"\xff\xfe not utf-8"

    response = _deliver(body, fake_stripe.signed(body))

    assert response.status_code == 400, response.content
    assert not StripeEvent.objects.exists()


# --- at most once -----------------------------------------------------------------------


def test_the_same_event_delivered_three_times_issues_tokens_once(
    fake_stripe: FakeStripe, buyer: User
) -> None:
    checkout = _checkout(fake_stripe, buyer)
    payload = fake_stripe.event(COMPLETED, fake_stripe.pay(checkout.session_id))

    outcomes = [_deliver_signed(fake_stripe, payload).json()["outcome"] for _ in range(3)]

    assert outcomes == ["fulfilled", "duplicate", "duplicate"]
    assert _tokens(checkout.order_id) == 3
    assert _sold(checkout.listing_id) == 3
    assert _available(checkout.listing_id) == 7
    assert StripeEvent.objects.count() == 1


def test_a_second_paying_event_for_the_same_session_issues_nothing_more(
    fake_stripe: FakeStripe, buyer: User
) -> None:
    checkout = _checkout(fake_stripe, buyer)
    session = fake_stripe.pay(checkout.session_id)

    first = _deliver_signed(fake_stripe, fake_stripe.event(COMPLETED, session))
    second = _deliver_signed(fake_stripe, fake_stripe.event(ASYNC_SUCCEEDED, session))

    assert (first.json()["outcome"], second.json()["outcome"]) == ("fulfilled", "no_change")
    assert _status(checkout.order_id) == "fulfilled"
    assert _tokens(checkout.order_id) == 3
    assert _sold(checkout.listing_id) == 3
    assert StripeEvent.objects.filter(order_id=checkout.order_id).count() == 2


def test_an_unpaid_completion_waits_for_the_async_payment(
    fake_stripe: FakeStripe, buyer: User
) -> None:
    """Bank debits complete the session first and are paid (or not) later."""
    checkout = _checkout(fake_stripe, buyer)
    unpaid = fake_stripe.pay(checkout.session_id, payment_status="unpaid")

    waiting = _deliver_signed(fake_stripe, fake_stripe.event(COMPLETED, unpaid))

    assert waiting.json()["outcome"] == "unpaid"
    assert _status(checkout.order_id) == "awaiting_payment"
    assert _tokens(checkout.order_id) == 0
    assert _available(checkout.listing_id) == 7  # still held for this buyer

    paid = fake_stripe.pay(checkout.session_id)
    settled = _deliver_signed(fake_stripe, fake_stripe.event(ASYNC_SUCCEEDED, paid))

    assert settled.json()["outcome"] == "fulfilled"
    assert _status(checkout.order_id) == "fulfilled"
    assert _tokens(checkout.order_id) == 3


def test_a_failed_async_payment_releases_the_units(fake_stripe: FakeStripe, buyer: User) -> None:
    checkout = _checkout(fake_stripe, buyer)
    unpaid = fake_stripe.pay(checkout.session_id, payment_status="unpaid")
    _deliver_signed(fake_stripe, fake_stripe.event(COMPLETED, unpaid))

    failed = _deliver_signed(fake_stripe, fake_stripe.event(ASYNC_FAILED, unpaid))

    assert failed.json()["outcome"] == "released"
    assert _status(checkout.order_id) == "expired"
    assert _available(checkout.listing_id) == 10
    assert _tokens(checkout.order_id) == 0


def test_expired_delivered_twice_gives_the_units_back_once(
    fake_stripe: FakeStripe, buyer: User
) -> None:
    listing = make_listing(units=10, price="4.00")
    checkout = _checkout(fake_stripe, buyer, listing=listing)
    _checkout(fake_stripe, UserFactory.create(), listing=listing, units=2)  # holds 2 more
    expired = fake_stripe.expire_on_stripe(checkout.session_id)
    payload = fake_stripe.event(EXPIRED, expired)

    outcomes = [
        _deliver_signed(fake_stripe, payload).json()["outcome"],
        _deliver_signed(fake_stripe, payload).json()["outcome"],
        # Stripe may also send the same news under a new event id.
        _deliver_signed(fake_stripe, fake_stripe.event(EXPIRED, expired)).json()["outcome"],
    ]

    assert outcomes == ["released", "duplicate", "no_change"]
    assert _status(checkout.order_id) == "expired"
    assert _available(listing.pk) == 8  # 10 - the other buyer's 2, and not a unit more


# --- out of order -----------------------------------------------------------------------


def test_expired_after_completed_changes_nothing(fake_stripe: FakeStripe, buyer: User) -> None:
    checkout = _checkout(fake_stripe, buyer)
    session = fake_stripe.pay(checkout.session_id)
    _deliver_signed(fake_stripe, fake_stripe.event(COMPLETED, session))

    late = _deliver_signed(
        fake_stripe, fake_stripe.event(EXPIRED, {**session, "status": "expired"})
    )

    assert late.json()["outcome"] == "no_change"
    assert _status(checkout.order_id) == "fulfilled"
    assert _tokens(checkout.order_id) == 3
    assert _available(checkout.listing_id) == 7


def test_a_late_payment_takes_the_units_again_while_they_last(
    fake_stripe: FakeStripe, buyer: User
) -> None:
    checkout = _checkout(fake_stripe, buyer)
    _deliver_signed(
        fake_stripe,
        fake_stripe.event(
            EXPIRED, {**fake_stripe.session_for(checkout.order_id), "status": "expired"}
        ),
    )
    assert _available(checkout.listing_id) == 10

    paid = fake_stripe.pay(checkout.session_id)  # the buyer was already on the payment page
    response = _deliver_signed(fake_stripe, fake_stripe.event(COMPLETED, paid))

    assert response.json()["outcome"] == "fulfilled"
    assert _status(checkout.order_id) == "fulfilled"
    assert _tokens(checkout.order_id) == 3
    assert _available(checkout.listing_id) == 7
    assert _sold(checkout.listing_id) == 3
    assert fake_stripe.refunds == []


def test_a_late_payment_with_no_units_left_is_refunded(
    fake_stripe: FakeStripe,
    buyer: User,
    client_for: Callable[[User], APIClient],
    django_capture_on_commit_callbacks: Any,
) -> None:
    """docs/decisions.md: paid after release with the units sold to someone else → the
    order is marked refund_pending and refunded through Stripe; nothing is oversold."""
    listing = make_listing(units=3, price="4.00")
    late = _checkout(fake_stripe, buyer, listing=listing)
    session = fake_stripe.session_for(late.order_id)
    _deliver_signed(fake_stripe, fake_stripe.event(EXPIRED, {**session, "status": "expired"}))
    rival = UserFactory.create()
    bought = client_for(rival).post(
        "/api/v1/orders", {"listing_id": listing.pk, "units": 1}, format="json"
    )  # 4.00: instant
    assert bought.json()["status"] == "fulfilled"
    _checkout(fake_stripe, UserFactory.create(), listing=listing, units=2)  # holds the rest

    paid = fake_stripe.pay(late.session_id)
    with django_capture_on_commit_callbacks(execute=True):
        response = _deliver_signed(fake_stripe, fake_stripe.event(COMPLETED, paid))

    assert response.json()["outcome"] == "refund_pending"
    order = Order.objects.get(pk=late.order_id)
    assert order.status == "refunded"
    assert [refund["payment_intent"] for refund in fake_stripe.refunds] == [paid["payment_intent"]]
    assert order.refund_id == fake_stripe.refunds[0]["id"]
    assert _tokens(late.order_id) == 0
    assert _available(listing.pk) == 0
    assert _sold(listing.pk) == 1


# --- acknowledged and logged ------------------------------------------------------------


def test_an_unknown_event_type_is_acknowledged_logged_and_ignored(
    fake_stripe: FakeStripe, buyer: User, caplog: pytest.LogCaptureFixture
) -> None:
    """Our payment intents carry the order id too; their events must not fulfil anything."""
    checkout = _checkout(fake_stripe, buyer)
    intent = {
        "id": "pi_unrelated",
        "object": "payment_intent",
        "status": "succeeded",
        "metadata": {"order_id": str(checkout.order_id)},
    }
    payload = fake_stripe.event("payment_intent.succeeded", intent, event_id="evt_other_type")

    with caplog.at_level(logging.WARNING, logger="orders.webhooks"):
        response = _deliver_signed(fake_stripe, payload)

    assert response.json()["outcome"] == "ignored_type"
    assert any("evt_other_type" in record.getMessage() for record in caplog.records)
    assert _status(checkout.order_id) == "awaiting_payment"
    assert _tokens(checkout.order_id) == 0


@pytest.mark.parametrize(
    "metadata",
    [{"order_id": "987654321"}, {"order_id": "not-a-number"}, {}],
    ids=["no-such-order", "garbage-id", "no-order-id"],
)
def test_an_event_for_an_unknown_order_is_acknowledged_and_logged(
    fake_stripe: FakeStripe,
    buyer: User,
    caplog: pytest.LogCaptureFixture,
    metadata: dict[str, str],
) -> None:
    checkout = _checkout(fake_stripe, buyer)
    foreign = {
        **fake_stripe.pay(checkout.session_id),
        "metadata": metadata,
        "client_reference_id": metadata.get("order_id"),
    }
    payload = fake_stripe.event(COMPLETED, foreign, event_id="evt_foreign")

    with caplog.at_level(logging.WARNING, logger="orders.webhooks"):
        response = _deliver_signed(fake_stripe, payload)

    assert response.json()["outcome"] == "unknown_order"
    assert any("evt_foreign" in record.getMessage() for record in caplog.records)
    assert _status(checkout.order_id) == "awaiting_payment"
    assert not Token.objects.exists()


# --- PostgreSQL: concurrency and outages ------------------------------------------------


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("require_postgres")
def test_twenty_concurrent_deliveries_of_one_event_fulfil_once(
    fake_stripe: FakeStripe,
) -> None:
    checkout = _checkout(fake_stripe, UserFactory.create(), units=4)
    payload = fake_stripe.event(COMPLETED, fake_stripe.pay(checkout.session_id))
    headers = fake_stripe.signed(payload)
    responses: list[Any] = [None] * 20

    def deliver(index: int) -> Callable[[], None]:
        def run() -> None:
            responses[index] = _deliver(payload, headers)

        return run

    all_at_once([deliver(index) for index in range(20)], timeout=30)

    assert [response.status_code for response in responses] == [200] * 20
    outcomes = sorted(response.json()["outcome"] for response in responses)
    assert outcomes == ["duplicate"] * 19 + ["fulfilled"]
    assert _status(checkout.order_id) == "fulfilled"
    assert _tokens(checkout.order_id) == 4
    assert _sold(checkout.listing_id) == 4
    assert StripeEvent.objects.count() == 1


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("require_postgres")
def test_database_down_during_a_webhook_is_503_and_the_retry_fulfils(
    fake_stripe: FakeStripe,
) -> None:
    checkout = _checkout(fake_stripe, UserFactory.create())
    payload = fake_stripe.event(COMPLETED, fake_stripe.pay(checkout.session_id))
    headers = fake_stripe.signed(payload)

    with database_down():
        during_outage = _deliver(payload, headers)

    assert during_outage.status_code == 503, during_outage.content
    assert during_outage.json()["code"] == "unavailable"
    assert during_outage["Retry-After"].isdigit()
    assert not StripeEvent.objects.exists()
    assert _status(checkout.order_id) == "awaiting_payment"
    assert _tokens(checkout.order_id) == 0

    retried = _deliver(payload, headers)  # Stripe retries the same body and event id

    assert retried.status_code == 200, retried.content
    assert retried.json()["outcome"] == "fulfilled"
    assert _status(checkout.order_id) == "fulfilled"
    assert _tokens(checkout.order_id) == 3
    assert StripeEvent.objects.get().event_id == json.loads(payload)["id"]

"""Issue 14, class 7: signed events with odd shapes never get a 5xx.

Stripe retries any delivery it does not see acknowledged, for days, so the webhook answers
400 only when a delivery is not ours to trust (bad signature, a timestamp outside the
tolerance either way), 200 for a well-signed body it cannot use (logged), and 5xx only when
a retry may succeed (the database is down; tests/orders/test_webhooks.py). Over-long ids,
NUL bytes (which PostgreSQL text columns refuse with an error), unknown objects and values
of the wrong type are all in the sweep below; run it on PostgreSQL and on SQLite.
"""

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from django.conf import settings
from rest_framework.test import APIClient

from accounts.models import User
from listings.models import Listing
from orders.models import Order
from tests.factories import bearer_token, make_listing
from tests.stripe_fake import FakeStripe
from tokens_vault.models import Token

pytestmark = pytest.mark.django_db

WEBHOOK = "/api/v1/payments/stripe/webhook"
COMPLETED = "checkout.session.completed"
TOLERANCE = 300  # settings.STRIPE_WEBHOOK_TOLERANCE_SECONDS
YEAR = 365 * 24 * 3600


@dataclass
class Paid:
    """An order awaiting payment whose session was just paid: a proper event would fulfil it."""

    order_id: int
    listing: Listing
    session: dict[str, Any]


@pytest.fixture
def paid(fake_stripe: FakeStripe, buyer: User) -> Paid:
    listing = make_listing(units=10, price="4.00")
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {bearer_token(buyer)}")
    response = api.post("/api/v1/orders", {"listing_id": listing.pk, "units": 3}, format="json")
    assert response.json()["status"] == "awaiting_payment"
    order_id = response.json()["id"]
    return Paid(order_id, listing, fake_stripe.pay(fake_stripe.session_for(order_id)["id"]))


Delivery = tuple[bytes, dict[str, Any]]
Build = Callable[[FakeStripe, dict[str, Any]], Delivery]


def _event(session: dict[str, Any], **envelope: Any) -> dict[str, Any]:
    event = {
        "id": "evt_shape_" + str(time.time_ns()),
        "object": "event",
        "type": COMPLETED,
        "livemode": False,
        "created": int(time.time()),
        "data": {"object": session},
    }
    event.update(envelope)
    return event


def _signed(fake: FakeStripe, body: Any, timestamp: int | None = None) -> Delivery:
    payload = body if isinstance(body, bytes) else json.dumps(body).encode()
    return payload, fake.signed(payload, timestamp)


def envelope(**fields: Any) -> Build:
    return lambda fake, session: _signed(fake, _event(session, **fields))


def session_with(**fields: Any) -> Build:
    return lambda fake, session: _signed(fake, _event({**session, **fields}))


def raw(body: bytes) -> Build:
    return lambda fake, session: _signed(fake, body)


def signed_at(offset_seconds: int) -> Build:
    return lambda fake, session: _signed(fake, _event(session), int(time.time()) + offset_seconds)


def header(value: Callable[[bytes, str], str]) -> Build:
    def build(fake: FakeStripe, session: dict[str, Any]) -> Delivery:
        payload = json.dumps(_event(session)).encode()
        signature = fake.signed(payload)["HTTP_STRIPE_SIGNATURE"]
        return payload, {"HTTP_STRIPE_SIGNATURE": value(payload, signature)}

    return build


def _nested(depth: int) -> bytes:
    return b'{"id": "evt_deep", "object": "event", "data": ' + b"[" * depth + b"]" * depth + b"}"


# Each case: how the delivery is built, the status, and the outcome answered (None: refused).
CASES = [
    # Not ours to trust: 400.
    pytest.param(signed_at(TOLERANCE + 60), 400, None, id="signed-beyond-tolerance-in-the-future"),
    pytest.param(signed_at(10 * YEAR), 400, None, id="signed-ten-years-ahead"),
    pytest.param(
        header(lambda p, s: s.split(",v1=")[0] + ",v1=" + "é" * 64),
        400,
        None,
        id="signature-not-ascii",
    ),
    pytest.param(
        header(lambda p, s: s.replace(",v1=", "\x00,v1=")), 400, None, id="signature-with-nul"
    ),
    pytest.param(
        header(lambda p, s: "t=" + "9" * 5000 + ",v1=" + "0" * 64),
        400,
        None,
        id="timestamp-of-5000-digits",
    ),
    pytest.param(
        header(lambda p, s: "t=soon," + s.split(",")[1]), 400, None, id="timestamp-not-a-number"
    ),
    # Signed but not an event we can record: acknowledged, nothing stored.
    pytest.param(envelope(id="evt_" + "a" * 252), 200, "malformed", id="id-over-255-characters"),
    pytest.param(envelope(id="evt_\x00nul"), 200, "malformed", id="id-with-nul"),
    pytest.param(envelope(id=""), 200, "malformed", id="id-empty"),
    pytest.param(envelope(id=123), 200, "malformed", id="id-a-number"),
    pytest.param(envelope(id="evt_é"), 200, "malformed", id="id-not-ascii"),
    pytest.param(
        envelope(id="evt_1\nINFO forged log line"), 200, "malformed", id="id-with-newline"
    ),
    pytest.param(
        envelope(type=COMPLETED + "." + "x" * 100), 200, "malformed", id="type-over-100-characters"
    ),
    pytest.param(envelope(type=COMPLETED + "\x00"), 200, "malformed", id="type-with-nul"),
    pytest.param(envelope(type=[COMPLETED]), 200, "malformed", id="type-a-list"),
    pytest.param(envelope(created=str(int(time.time()))), 200, "malformed", id="created-a-string"),
    pytest.param(envelope(created=None), 200, "malformed", id="created-null"),
    pytest.param(envelope(livemode="false"), 200, "malformed", id="livemode-a-string"),
    pytest.param(envelope(object="list"), 200, "malformed", id="object-not-event"),
    pytest.param(envelope(data=[]), 200, "malformed", id="data-a-list"),
    pytest.param(envelope(data={"object": []}), 200, "malformed", id="data-object-a-list"),
    pytest.param(raw(b'"checkout.session.completed"'), 200, "malformed", id="body-a-json-string"),
    pytest.param(raw(b"null"), 200, "malformed", id="body-null"),
    pytest.param(
        raw(b'{"id": "evt_\x00", "object": "event"}'), 200, "malformed", id="body-with-raw-nul"
    ),
    pytest.param(raw(_nested(100_000)), 200, "malformed", id="body-nested-100000-deep"),
    pytest.param(
        raw(b'{"created": 1' + b"0" * 5000 + b"}"),
        200,
        "malformed",
        id="body-with-a-5000-digit-number",
    ),
    # A recorded event the order cannot use.
    pytest.param(session_with(object="invoice"), 200, "malformed", id="unknown-object"),
    pytest.param(session_with(object=None), 200, "malformed", id="object-missing"),
    pytest.param(
        session_with(payment_intent="pi_\x00"), 200, "malformed", id="payment-intent-with-nul"
    ),
    pytest.param(
        session_with(payment_intent="pi_" + "a" * 297),
        200,
        "malformed",
        id="payment-intent-300-characters",
    ),
    pytest.param(
        session_with(payment_intent={"id": "pi_1"}), 200, "malformed", id="payment-intent-an-object"
    ),
    pytest.param(
        session_with(metadata=[1], client_reference_id=None),
        200,
        "unknown_order",
        id="metadata-a-list",
    ),
    pytest.param(
        session_with(metadata="order_id=1", client_reference_id=None),
        200,
        "unknown_order",
        id="metadata-a-string",
    ),
    pytest.param(
        session_with(metadata={"order_id": {"$gt": 0}}, client_reference_id=None),
        200,
        "unknown_order",
        id="order-id-nested",
    ),
    pytest.param(
        session_with(metadata={"order_id": "²"}, client_reference_id=None),
        200,
        "unknown_order",
        id="order-id-superscript-digit",
    ),
    pytest.param(
        session_with(metadata={"order_id": "1\x00"}, client_reference_id="\x00"),
        200,
        "unknown_order",
        id="order-id-with-nul",
    ),
    pytest.param(
        session_with(metadata={"order_id": "9" * 20}, client_reference_id=None),
        200,
        "unknown_order",
        id="order-id-20-digits",
    ),
    pytest.param(
        lambda f, s: session_with(amount_total=str(s["amount_total"]))(f, s),
        200,
        "mismatch",
        id="amount-a-string",
    ),
    pytest.param(
        lambda f, s: session_with(amount_total=s["amount_total"] + 0.0)(f, s),
        200,
        "mismatch",
        id="amount-a-float",
    ),
    pytest.param(session_with(amount_total=True), 200, "mismatch", id="amount-true"),
    pytest.param(session_with(amount_total=None), 200, "mismatch", id="amount-null"),
    pytest.param(session_with(amount_total=10**30), 200, "mismatch", id="amount-huge"),
    pytest.param(session_with(currency="USD"), 200, "mismatch", id="currency-upper-case"),
    pytest.param(session_with(currency="usd\x00"), 200, "mismatch", id="currency-with-nul"),
    pytest.param(
        lambda f, s: session_with(id=s["id"] + "\x00")(f, s),
        200,
        "mismatch",
        id="session-id-with-nul",
    ),
    pytest.param(
        session_with(id="cs_" + "a" * 9997), 200, "mismatch", id="session-id-10000-characters"
    ),
    pytest.param(
        session_with(payment_status=["paid"]), 200, "malformed", id="payment-status-a-list"
    ),
    pytest.param(
        session_with(payment_status={"paid": True}), 200, "malformed", id="payment-status-an-object"
    ),
    pytest.param(
        envelope(type="customer.created", data={"object": {"name": "\x00"}}),
        200,
        "ignored_type",
        id="unknown-type-with-nul-inside",
    ),
]


@pytest.mark.parametrize(("build", "status", "outcome"), CASES)
def test_an_odd_delivery_is_refused_or_acknowledged_never_a_5xx(
    fake_stripe: FakeStripe,
    paid: Paid,
    caplog: pytest.LogCaptureFixture,
    build: Build,
    status: int,
    outcome: str | None,
) -> None:
    body, headers = build(fake_stripe, paid.session)

    with caplog.at_level(logging.WARNING):
        response = APIClient().post(WEBHOOK, body, content_type="application/json", **headers)

    assert response.status_code == status, response.content
    if outcome is not None:
        assert response.json() == {"received": True, "outcome": outcome}
    assert any(
        record.levelno == logging.WARNING and record.name.startswith("orders.")
        for record in caplog.records
    ), "the delivery was not logged"
    order = Order.objects.get(pk=paid.order_id)
    assert (order.status, order.payment_intent_id) == ("awaiting_payment", "")
    assert not Token.objects.filter(order_id=paid.order_id).exists()
    paid.listing.refresh_from_db()
    assert (paid.listing.available_units, paid.listing.units_sold) == (7, 0)

    # The same order's proper event is still applied afterwards.
    payload = fake_stripe.event(COMPLETED, paid.session)
    signed: dict[str, Any] = fake_stripe.signed(payload)
    proper = APIClient().post(WEBHOOK, payload, content_type="application/json", **signed)
    assert proper.json() == {"received": True, "outcome": "fulfilled"}


def test_a_signature_dated_ahead_within_the_tolerance_is_accepted(
    fake_stripe: FakeStripe, paid: Paid
) -> None:
    """Clocks drift: the tolerance holds both ways, not only into the past."""
    body, headers = signed_at(TOLERANCE - 60)(fake_stripe, paid.session)

    response = APIClient().post(WEBHOOK, body, content_type="application/json", **headers)

    assert response.json() == {"received": True, "outcome": "fulfilled"}


def test_a_signed_body_over_the_upload_limit_is_400(fake_stripe: FakeStripe, paid: Paid) -> None:
    body = json.dumps(
        _event(paid.session, padding="x" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1))
    ).encode()

    headers: dict[str, Any] = fake_stripe.signed(body)
    response = APIClient().post(WEBHOOK, body, content_type="application/json", **headers)

    assert response.status_code == 400
    assert Order.objects.get(pk=paid.order_id).status == "awaiting_payment"

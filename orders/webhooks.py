"""Stripe webhook events, each applied at most once, and only to the payment they are for.

The event id is inserted under a unique constraint in the same transaction as the event's
effect: a duplicate delivery, even a concurrent one, fails that insert and changes nothing.
The signature was checked over the raw body before any of this runs (stripe_gateway); what
the body says is still checked against what we recorded (`payment_mismatches`), since a
signed event may be for another session that names the same order id (a second site on the
same Stripe account, a session made in the dashboard). Events of any other shape are
acknowledged and logged, never answered with a 5xx that Stripe would retry for days.
"""

import logging
import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from audit.models import AuditAction
from audit.services import audit_record
from orders import stripe_gateway
from orders.fulfilment import order_payment_confirmed, order_release
from orders.models import Order, OrderStatus, StripeEvent

logger = logging.getLogger(__name__)

DUPLICATE = "duplicate"
MALFORMED = StripeEvent.Outcome.MALFORMED
CHECKOUT_SESSION = "checkout.session"
STRIPE_ID_MAX_LENGTH = 255  # Stripe's documented bound for its object ids
SHOWN_LENGTH = 80  # of a value quoted in a log line or audit entry


@dataclass(frozen=True)
class RecordedPayment:
    """What we recorded when we asked Stripe for a payment: the Stripe object's id ("" until
    it is saved), and the amount and currency it must carry."""

    stripe_id: str
    amount: Decimal
    currency: str  # ISO 4217, as stored (Stripe sends it lower-case)


def payment_mismatches(
    recorded: RecordedPayment, *, stripe_id: object, amount_cents: object, currency: object
) -> list[str]:
    """The fields of a Stripe object that differ from the payment we recorded; empty when it
    is that payment. One rule for every event that moves money (orders now; top-ups and
    Connect later): a record whose id is not saved yet matches nothing."""
    mismatched = []
    if not recorded.stripe_id or stripe_id != recorded.stripe_id:
        mismatched.append("session id")
    expected_cents = _cents(recorded.amount)
    # Stripe's amounts are integers: neither 1200.0 nor True (an int to Python) is 1200 cents.
    if type(amount_cents) is not int or amount_cents != expected_cents:
        mismatched.append("amount")
    if currency != recorded.currency.lower():
        mismatched.append("currency")
    return mismatched


def _cents(amount: Decimal) -> int:
    return int((amount * 100).to_integral_value())  # USD, EUR, GBP: two decimal places


def stripe_event_handle(event: object) -> str:
    """Apply one verified event (any JSON value); returns its outcome (or "duplicate")."""
    problem = _envelope_problem(event)
    if problem is not None or not isinstance(event, dict):
        # Nothing to key it on: nothing is stored, and a retry would be the same bytes.
        logger.warning("stripe event not applied, acknowledged: %s", problem)
        return MALFORMED
    with transaction.atomic():
        record = StripeEvent(
            event_id=event["id"],
            type=event["type"],
            livemode=event["livemode"],
            outcome=StripeEvent.Outcome.NO_CHANGE,
        )
        try:
            with transaction.atomic():
                record.save()
        except IntegrityError:
            logger.info("stripe event %s delivered again: ignored", event["id"])
            return DUPLICATE
        record.outcome, record.order_id = _apply(record, event["data"]["object"])
        record.save(update_fields=["outcome", "order"])
    if record.outcome in (
        StripeEvent.Outcome.UNKNOWN_ORDER,
        StripeEvent.Outcome.IGNORED_TYPE,
        StripeEvent.Outcome.MALFORMED,
    ):
        logger.warning("stripe event %s (%s): %s", record.event_id, record.type, record.outcome)
    return record.outcome


def _envelope_problem(event: object) -> str | None:
    """Why `event` is not an event we can record, or None. Its id and type must fit their
    columns (PostgreSQL refuses NUL in text with an error, not a 400)."""
    if not isinstance(event, dict):
        return f"the body is a JSON {type(event).__name__}, not an event"
    if event.get("object") != "event":
        return f"object is {_shown(event.get('object'))}, not 'event'"
    for key, limit in (
        ("id", StripeEvent.EVENT_ID_MAX_LENGTH),
        ("type", StripeEvent.TYPE_MAX_LENGTH),
    ):
        if not _is_token(event.get(key), limit):
            return f"{key} {_shown(event.get(key))} is not 1 to {limit} printable ASCII characters"
    if not isinstance(event.get("livemode"), bool):
        return f"livemode {_shown(event.get('livemode'))} is not true or false"
    created = event.get("created")
    if isinstance(created, bool) or not isinstance(created, int):
        return f"created {_shown(created)} is not a Unix time"
    data = event.get("data")
    if not (isinstance(data, dict) and isinstance(data.get("object"), dict)):
        return "data.object is not an object"
    return None


def _is_token(value: object, max_length: int) -> bool:
    return (
        isinstance(value, str)
        and 0 < len(value) <= max_length
        and value.isascii()
        and value.isprintable()
    )


def _shown(value: object) -> str:
    """A value from an event, safe for one log line or audit entry: quoted, escaped, short
    (and never the repr of a deeply nested structure, which may recurse too far)."""
    if isinstance(value, dict | list):
        return f"a JSON {'object' if isinstance(value, dict) else 'array'}"
    text = repr(value[: SHOWN_LENGTH + 1] if isinstance(value, str) else value)
    return text if len(text) <= SHOWN_LENGTH else text[: SHOWN_LENGTH - 3] + "..."


def _order_id(session: dict[str, Any]) -> int | None:
    metadata = session.get("metadata")
    raw = (metadata.get("order_id") if isinstance(metadata, dict) else None) or session.get(
        "client_reference_id"
    )
    # isascii: int() refuses some characters that str.isdigit() accepts ("²").
    if isinstance(raw, str) and raw.isascii() and raw.isdigit() and len(raw) < 19:
        return int(raw)
    return None


def _payment_intent(session: dict[str, Any]) -> str | None:
    """The session's payment intent id, "" when it has none, None when it is not an id."""
    value = session.get("payment_intent")
    if value is None:
        return ""
    return value if _is_token(value, STRIPE_ID_MAX_LENGTH) else None


def _apply(record: StripeEvent, session: dict[str, Any]) -> tuple[str, int | None]:
    if record.type not in StripeEvent.PAYING_TYPES | StripeEvent.RELEASING_TYPES:
        return StripeEvent.Outcome.IGNORED_TYPE, None
    if session.get("object") != CHECKOUT_SESSION:
        return StripeEvent.Outcome.MALFORMED, None
    order_id = _order_id(session)
    order = (
        Order.objects.filter(pk=order_id)
        .only("checkout_session_id", "total_price", "currency")
        .first()
        if order_id is not None
        else None
    )
    if order is None:
        return StripeEvent.Outcome.UNKNOWN_ORDER, None
    if mismatched := _mismatches(order, session):
        _mismatch_report(record, order, session, mismatched)
        return StripeEvent.Outcome.MISMATCH, order.pk
    if record.type in StripeEvent.RELEASING_TYPES:
        released = order_release(order_id=order.pk, to_status=OrderStatus.EXPIRED)
        return (
            StripeEvent.Outcome.RELEASED if released else StripeEvent.Outcome.NO_CHANGE
        ), order.pk
    payment_status, payment_intent = session.get("payment_status"), _payment_intent(session)
    if not isinstance(payment_status, str) or payment_intent is None:
        return StripeEvent.Outcome.MALFORMED, order.pk  # the sweeper asks Stripe's API
    if payment_status not in stripe_gateway.PAID_STATUSES:
        return StripeEvent.Outcome.UNPAID, order.pk  # async method: wait for its own event
    return order_payment_confirmed(order_id=order.pk, payment_intent_id=payment_intent), order.pk


def _mismatches(order: Order, session: dict[str, Any]) -> list[str]:
    recorded = RecordedPayment(
        stripe_id=order.checkout_session_id, amount=order.total_price, currency=order.currency
    )
    return payment_mismatches(
        recorded,
        stripe_id=session.get("id"),
        amount_cents=session.get("amount_total"),
        currency=session.get("currency"),
    )


def _mismatch_report(
    record: StripeEvent, order: Order, session: dict[str, Any], mismatched: list[str]
) -> None:
    """Log and audit (in the event's transaction) an event that names an order but is not
    its payment. With no session saved yet, the webhook beat `_start_checkout` to it: the
    success page or the reservation sweep settles the order from the saved session."""
    told = (
        f"session {_shown(session.get('id'))}, amount_total {_shown(session.get('amount_total'))}"
        f", currency {_shown(session.get('currency'))}"
    )
    recorded = (
        f"session {order.checkout_session_id or '(none saved yet)'}, "
        f"{order.total_price} {order.currency}"
    )
    logger.warning(
        "stripe event %s (%s) names order %s but its %s differ: event has %s; order has %s. "
        "Nothing applied.",
        record.event_id,
        record.type,
        order.pk,
        ", ".join(mismatched),
        told,
        recorded,
    )
    audit_record(
        actor=None,
        action=AuditAction.ORDER_PAYMENT_MISMATCH,
        target=order,
        origin=None,
        summary=f"{', '.join(mismatched)} differ: event {told}; order {recorded}. "
        f"Stripe event {record.event_id} ({record.type}) not applied.",
    )


def dev_checkout_pay(*, order_id: int) -> str:
    """The dev checkout's Pay button: the event Stripe would send for the order's session.
    The stand-in has no session until now, so it saves one named after the order first."""
    Order.objects.filter(pk=order_id, checkout_session_id="").update(
        checkout_session_id=f"cs_dev_{order_id}"
    )
    order = Order.objects.get(pk=order_id)
    return stripe_event_handle(
        {
            "id": f"evt_dev_{uuid.uuid4().hex}",
            "object": "event",
            "type": "checkout.session.completed",
            "livemode": False,
            "created": int(timezone.now().timestamp()),
            "data": {
                "object": {
                    "id": order.checkout_session_id,
                    "object": CHECKOUT_SESSION,
                    "amount_total": _cents(order.total_price),
                    "currency": order.currency.lower(),
                    "metadata": {"order_id": str(order.pk)},
                    "payment_status": "paid",
                }
            },
        }
    )

"""Stripe webhook events, each applied at most once.

The event id is inserted under a unique constraint in the same transaction as the event's
effect: a duplicate delivery, even a concurrent one, fails that insert and changes nothing.
The signature was checked over the raw body before any of this runs (stripe_gateway).
"""

import logging
from typing import Any

from django.db import IntegrityError, transaction

from orders import stripe_gateway
from orders.fulfilment import order_payment_confirmed, order_release
from orders.models import Order, OrderStatus, StripeEvent

logger = logging.getLogger(__name__)

DUPLICATE = "duplicate"


def stripe_event_handle(event: dict[str, Any]) -> str:
    """Apply one verified event; returns its outcome (or "duplicate")."""
    session = event["data"]["object"]
    with transaction.atomic():
        record = StripeEvent(
            event_id=event["id"],
            type=event["type"],
            livemode=bool(event.get("livemode")),
            outcome=StripeEvent.Outcome.NO_CHANGE,
        )
        try:
            with transaction.atomic():
                record.save()
        except IntegrityError:
            logger.info("stripe event %s delivered again: ignored", event["id"])
            return DUPLICATE
        record.outcome, record.order_id = _apply(event["type"], session)
        record.save(update_fields=["outcome", "order"])
    if record.outcome in (StripeEvent.Outcome.UNKNOWN_ORDER, StripeEvent.Outcome.IGNORED_TYPE):
        logger.warning("stripe event %s (%s): %s", record.event_id, record.type, record.outcome)
    return record.outcome


def _order_id(session: dict[str, Any]) -> int | None:
    metadata = session.get("metadata")
    raw = (metadata.get("order_id") if isinstance(metadata, dict) else None) or session.get(
        "client_reference_id"
    )
    if isinstance(raw, str) and raw.isdigit() and len(raw) < 19:
        return int(raw)
    return None


def _apply(event_type: str, session: dict[str, Any]) -> tuple[str, int | None]:
    if event_type not in StripeEvent.PAYING_TYPES | StripeEvent.RELEASING_TYPES:
        return StripeEvent.Outcome.IGNORED_TYPE, None
    order_id = _order_id(session)
    if order_id is None or not Order.objects.filter(pk=order_id).exists():
        return StripeEvent.Outcome.UNKNOWN_ORDER, None
    if event_type in StripeEvent.RELEASING_TYPES:
        released = order_release(order_id=order_id, to_status=OrderStatus.EXPIRED)
        return (
            StripeEvent.Outcome.RELEASED if released else StripeEvent.Outcome.NO_CHANGE
        ), order_id
    if session.get("payment_status") not in stripe_gateway.PAID_STATUSES:
        return StripeEvent.Outcome.UNPAID, order_id  # async method: wait for its own event
    payment_intent = session.get("payment_intent")
    outcome = order_payment_confirmed(
        order_id=order_id,
        payment_intent_id=payment_intent if isinstance(payment_intent, str) else "",
    )
    return outcome, order_id

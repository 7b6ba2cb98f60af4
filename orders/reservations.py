"""Releasing reservations nobody paid for, after asking Stripe whether they were paid.

Safe to run from cron and concurrently with itself: candidates are read without locks, every
network call happens outside any transaction, and the release re-checks the order under its
row lock, so two sweepers release each expired reservation exactly once between them.
"""

import logging
from dataclasses import dataclass
from datetime import datetime

from django.utils import timezone

from orders import stripe_gateway
from orders.fulfilment import order_payment_confirmed, order_release
from orders.models import Order, OrderStatus, StripeEvent
from orders.refunds import order_refund_settle

logger = logging.getLogger(__name__)

NO_SUCH_SESSION = "resource_missing"  # Stripe's error code for an unknown object


@dataclass
class SweepReport:
    released: int = 0
    fulfilled: int = 0  # paid, but the webhook never came (reconciliation)
    skipped: int = 0  # Stripe unreachable: left for the next sweep
    refunds_settled: int = 0


def reservations_sweep(
    *, now: datetime | None = None, listing_id: int | None = None, limit: int = 200
) -> SweepReport:
    """Settle up to `limit` awaiting orders whose reservation ran out by `now`; a full sweep
    (no `listing_id`) also retries the refunds of orders paid too late."""
    now = now or timezone.now()
    report = SweepReport()
    expired = Order.objects.filter(status=OrderStatus.AWAITING_PAYMENT, reserved_until__lte=now)
    if listing_id is not None:
        expired = expired.filter(listing_id=listing_id)
    candidates = list(
        expired.order_by("reserved_until").values_list("pk", "checkout_session_id")[:limit]
    )
    for position, (order_id, session_id) in enumerate(candidates):
        try:
            outcome = _settle(order_id, session_id, now)
        except stripe_gateway.PaymentGatewayError as exc:
            if exc.transient:
                # Stripe is down: stop rather than wait out a timeout per order; the next
                # sweep settles the rest.
                report.skipped += len(candidates) - position
                break
            report.skipped += 1
            continue
        if outcome == "released":
            report.released += 1
        elif outcome == StripeEvent.Outcome.FULFILLED:
            report.fulfilled += 1
    if listing_id is None:
        for order_id in Order.objects.filter(status=OrderStatus.REFUND_PENDING).values_list(
            "pk", flat=True
        )[:limit]:
            order_refund_settle(order_id=order_id)
            report.refunds_settled += not Order.objects.filter(
                pk=order_id, status=OrderStatus.REFUND_PENDING
            ).exists()
    if report.released or report.fulfilled or report.skipped:
        logger.info("reservation sweep: %s", report)
    return report


def _settle(order_id: int, session_id: str, now: datetime) -> str:
    if session_id and stripe_gateway.is_configured():
        try:
            session = stripe_gateway.checkout_session_retrieve(session_id)
        except stripe_gateway.PaymentGatewayError as exc:
            if exc.code != NO_SUCH_SESSION:
                raise
            # Stripe has no such session (another account, or never created): nobody can
            # pay it, so the units go back.
            logger.warning("order %s: Stripe knows no session %s", order_id, session_id)
            return _release(order_id, now)
        if session.status == "open" and not session.paid:
            # Close the door first, so nobody pays for units we are about to release.
            session = _expire_or_reread(session_id)
        if session.paid:
            return order_payment_confirmed(
                order_id=order_id, payment_intent_id=session.payment_intent_id
            )
    return _release(order_id, now)


def _release(order_id: int, now: datetime) -> str:
    released = order_release(order_id=order_id, to_status=OrderStatus.EXPIRED, expired_by=now)
    return "released" if released else "unchanged"


def _expire_or_reread(session_id: str) -> stripe_gateway.CheckoutSession:
    try:
        return stripe_gateway.checkout_session_expire(session_id)
    except stripe_gateway.PaymentGatewayError as exc:
        if exc.transient:
            raise
        # Stripe refuses to expire a session that just completed: read what happened.
        return stripe_gateway.checkout_session_retrieve(session_id)

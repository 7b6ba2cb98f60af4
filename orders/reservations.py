"""Releasing reservations nobody paid for, after asking Stripe whether they were paid; and
following every released order whose Checkout Session may still be paid until Stripe settles it.

A session can outlive its order's reservation: the buyer cancelled while Stripe was
unreachable, the session's expiry webhook never came, or a delayed payment was still
processing at release. Such an order keeps `checkout_session_open` until Stripe confirms that
nobody can pay the session any more; until then each full sweep asks Stripe again (expiring the
session if it is still open), and a payment found there is fulfilled, or refunded when the
units are gone (orders.fulfilment). So no payment is kept without tokens, even if its webhook
is lost.

Safe to run from cron and concurrently with itself: candidates are read without locks, every
network call happens outside any transaction, and the release re-checks the order under its
row lock, so two sweepers release each expired reservation exactly once between them.
"""

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from django.db.models import QuerySet
from django.utils import timezone

from orders import stripe_gateway
from orders.fulfilment import order_checkout_closed, order_payment_confirmed, order_release
from orders.models import RELEASED_STATUSES, Order, OrderStatus, StripeEvent
from orders.refunds import order_refund_settle

logger = logging.getLogger(__name__)

NO_SUCH_SESSION = "resource_missing"  # Stripe's error code for an unknown object
# What checkout_session_settle found, besides the outcomes of a payment (StripeEvent.Outcome).
SESSION_CLOSED = "closed"  # nobody can pay it any more
SESSION_OPEN = "open"  # a delayed payment is still on its way: ask again next time
RELEASED = "released"
UNCHANGED = "unchanged"

Settle = Callable[[int, str], str]  # (order id, session id) -> outcome


@dataclass
class SweepReport:
    released: int = 0
    fulfilled: int = 0  # paid, but the webhook never came (reconciliation)
    skipped: int = 0  # Stripe unreachable: left for the next sweep
    refunds_settled: int = 0
    sessions_closed: int = 0  # sessions of released orders Stripe confirmed nobody can pay
    refunds_due: int = 0  # paid after release with no units left to give: refund started


def reservations_sweep(
    *, now: datetime | None = None, listing_id: int | None = None, limit: int = 200
) -> SweepReport:
    """Settle up to `limit` awaiting orders whose reservation ran out by `now`. A full sweep
    (no `listing_id`) also follows up to `limit` sessions of released orders that may still be
    paid, and retries the refunds of orders paid too late."""
    now = now or timezone.now()
    report = SweepReport()
    expired = Order.objects.filter(status=OrderStatus.AWAITING_PAYMENT, reserved_until__lte=now)
    if listing_id is not None:
        expired = expired.filter(listing_id=listing_id)
    candidates = list(
        expired.order_by("reserved_until").values_list("pk", "checkout_session_id")[:limit]
    )
    stripe_up = _settle_each(candidates, report, lambda pk, sid: _settle(pk, sid, now))
    if listing_id is None:
        if stripe_up and stripe_gateway.is_configured():
            followed = open_sessions_of_released_orders().values_list("pk", "checkout_session_id")
            _settle_each(
                list(followed[:limit]),
                report,
                lambda pk, sid: checkout_session_settle(order_id=pk, session_id=sid),
            )
        for order_id in Order.objects.filter(status=OrderStatus.REFUND_PENDING).values_list(
            "pk", flat=True
        )[:limit]:
            order_refund_settle(order_id=order_id)
            report.refunds_settled += not Order.objects.filter(
                pk=order_id, status=OrderStatus.REFUND_PENDING
            ).exists()
    if report != SweepReport():
        logger.info("reservation sweep: %s", report)
    return report


def open_sessions_of_released_orders() -> QuerySet[Order]:
    """Released orders whose Checkout Session may still be paid, oldest first (a partial
    index, order_open_session_idx, holds exactly these)."""
    return (
        Order.objects.filter(checkout_session_open=True, status__in=RELEASED_STATUSES)
        .exclude(checkout_session_id="")
        .order_by("id")
    )


def _settle_each(candidates: list[tuple[int, str]], report: SweepReport, settle: Settle) -> bool:
    """Settle each (order, session) and count the outcomes; False if Stripe was unreachable."""
    for position, (order_id, session_id) in enumerate(candidates):
        try:
            outcome = settle(order_id, session_id)
        except stripe_gateway.PaymentGatewayError as exc:
            if exc.transient:
                # Stripe is down: stop rather than wait out a timeout per order; the next
                # sweep settles the rest.
                report.skipped += len(candidates) - position
                return False
            report.skipped += 1
            continue
        if outcome == RELEASED:
            report.released += 1
        elif outcome == SESSION_CLOSED:
            report.sessions_closed += 1
        elif outcome == StripeEvent.Outcome.FULFILLED:
            report.fulfilled += 1
        elif outcome == StripeEvent.Outcome.REFUND_PENDING:
            report.refunds_due += 1
    return True


def _settle(order_id: int, session_id: str, now: datetime) -> str:
    """An awaiting order whose reservation ran out: fulfilled if its session was paid, else
    released (its session expired first, or followed while a delayed payment processes)."""
    if session_id and stripe_gateway.is_configured():
        outcome = checkout_session_settle(order_id=order_id, session_id=session_id)
        if outcome not in (SESSION_CLOSED, SESSION_OPEN):
            return outcome  # paid
    released = order_release(order_id=order_id, to_status=OrderStatus.EXPIRED, expired_by=now)
    return RELEASED if released else UNCHANGED


def checkout_session_settle(*, order_id: int, session_id: str) -> str:
    """Make sure nobody can pay `session_id` any more, or act on the payment made on it.

    Returns SESSION_CLOSED (expired, unknown to Stripe, or its delayed payment failed),
    SESSION_OPEN (a delayed payment still processing), or the outcome of the payment
    (fulfilled, refund_pending, no_change). Raises PaymentGatewayError if Stripe fails.
    """
    try:
        session = stripe_gateway.checkout_session_retrieve(session_id)
    except stripe_gateway.PaymentGatewayError as exc:
        if exc.code != NO_SUCH_SESSION:
            raise
        # Stripe has no such session (another account, or never created): nobody can pay it.
        logger.warning("order %s: Stripe knows no session %s", order_id, session_id)
        order_checkout_closed(order_id=order_id, session_id=session_id)
        return SESSION_CLOSED
    if session.status == "open" and not session.paid:
        # Close the door first, so nobody pays for units we are about to release.
        session = _expire_or_reread(session_id)
    if session.paid:
        return order_payment_confirmed(
            order_id=order_id, payment_intent_id=session.payment_intent_id
        )
    if session.may_still_be_paid:
        return SESSION_OPEN
    order_checkout_closed(order_id=order_id, session_id=session_id)
    return SESSION_CLOSED


def _expire_or_reread(session_id: str) -> stripe_gateway.CheckoutSession:
    try:
        return stripe_gateway.checkout_session_expire(session_id)
    except stripe_gateway.PaymentGatewayError as exc:
        if exc.transient:
            raise
        # Stripe refuses to expire a session that just completed: read what happened.
        return stripe_gateway.checkout_session_retrieve(session_id)

"""The locked heart of an order's life: deliver, confirm a payment, release a reservation.

Each function takes the listing's row lock, then the order's (the one lock order of the
project), inside its own transaction, and moves the order only along the state machine of
orders.models, so the webhook, the success page, the sweeper and a buyer's cancel may race
on one order and it still ends in one consistent state.
"""

import logging
import uuid
from datetime import datetime

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from listings.lock_objects import listing_lock
from listings.models import Listing, PoolSecret
from orders.errors import InsufficientUnits, ListingUnavailable
from orders.mails import order_mail_enqueue
from orders.models import RELEASED_STATUSES, Order, OrderStatus, StripeEvent
from orders.refunds import order_refund_settle
from tokens_vault.services import tokens_issue

logger = logging.getLogger(__name__)


def deliver_units(
    listing: Listing, order: Order, now: datetime, *, count_sold: bool = True
) -> None:
    """Issue the order's tokens and count its units as sold, unless the caller counts them
    in its own stock UPDATE (`count_sold=False`: one listing write per purchase)."""
    if count_sold:
        Listing.objects.filter(pk=listing.pk).update(units_sold=F("units_sold") + order.units)
    tokens_issue(
        owner=order.buyer,
        order_id=order.pk,
        secret_ids=_secrets_to_deliver(listing, order.units, now),
        exclusive=listing.delivery_mode == Listing.DeliveryMode.POOL,
    )
    order.fulfilled_at = now
    order_mail_enqueue(order.pk, OrderStatus.FULFILLED)  # the receipt


def _secrets_to_deliver(listing: Listing, units: int, now: datetime) -> list[uuid.UUID]:
    if listing.delivery_mode == Listing.DeliveryMode.SHARED:
        if listing.shared_secret_id is None:  # excluded by a CHECK constraint
            raise ListingUnavailable("This listing has no secret to deliver.")
        return [listing.shared_secret_id] * units
    # The listing lock already serialises buyers of this pool; skip_locked keeps a future
    # path that forgets the listing lock from handing one secret to two buyers.
    entries = list(
        PoolSecret.objects.select_for_update(skip_locked=True)
        .filter(listing=listing, delivered_at__isnull=True)
        .order_by("id")
        .values_list("id", "secret_id")[:units]
    )
    if len(entries) < units:
        raise InsufficientUnits("This listing is sold out.")
    PoolSecret.objects.filter(pk__in=[pk for pk, _ in entries]).update(delivered_at=now)
    return [secret_id for _, secret_id in entries]


def _lock_listing_then_order(order_id: int) -> tuple[Listing, Order] | None:
    listing_id = Order.objects.filter(pk=order_id).values_list("listing_id", flat=True).first()
    if listing_id is None:
        return None
    listing = listing_lock(listing_id)
    if listing is None:  # listings are PROTECTed from deletion
        return None
    return listing, Order.objects.select_for_update().select_related("buyer").get(pk=order_id)


def order_payment_confirmed(*, order_id: int, payment_intent_id: str = "") -> str:
    """Record a confirmed payment, at most once per order; returns a StripeEvent outcome."""
    with transaction.atomic():
        locked = _lock_listing_then_order(order_id)
        if locked is None:
            return StripeEvent.Outcome.UNKNOWN_ORDER
        listing, order = locked
        outcome: str
        if order.status == OrderStatus.AWAITING_PAYMENT:
            outcome = StripeEvent.Outcome.FULFILLED
        elif order.status in RELEASED_STATUSES:
            outcome = _take_back_released_units(listing, order)
        else:  # already fulfilled, refunded or marked for refund
            return StripeEvent.Outcome.NO_CHANGE
        order.payment_intent_id = payment_intent_id or order.payment_intent_id
        order.checkout_session_open = False  # complete and paid: nothing more to follow
        if outcome == StripeEvent.Outcome.FULFILLED:
            deliver_units(listing, order, timezone.now())
            order.transition_to(OrderStatus.FULFILLED)
        else:
            order.transition_to(OrderStatus.REFUND_PENDING)
            transaction.on_commit(lambda: order_refund_settle(order_id=order_id))
        order.save()
    return outcome


def _take_back_released_units(listing: Listing, order: Order) -> str:
    """Paid after its units were released: reserve them again if the listing still can."""
    if listing.status == Listing.Status.ACTIVE and listing.available_units >= order.units:
        Listing.objects.filter(pk=listing.pk).update(
            available_units=F("available_units") - order.units
        )
        logger.info("order %s paid after release: units taken back", order.pk)
        return StripeEvent.Outcome.FULFILLED
    logger.warning("order %s paid after release with no units left: refund due", order.pk)
    return StripeEvent.Outcome.REFUND_PENDING


def order_checkout_closed(*, order_id: int, session_id: str) -> None:
    """Stripe confirmed that nobody can pay `session_id` any more (expired, unknown to it, or
    its delayed payment failed): stop following it. One row, no other lock held."""
    Order.objects.filter(pk=order_id, checkout_session_id=session_id).update(
        checkout_session_open=False
    )


def order_release(
    *,
    order_id: int,
    to_status: str,
    expired_by: datetime | None = None,
    only_without_session: bool = False,
) -> bool:
    """Give an awaiting order's units back, exactly once. False when the order was not
    awaiting payment, (with `expired_by`) its reservation had not run out by then, or (with
    `only_without_session`) a Checkout Session was recorded for it meanwhile.

    The order's session may stay open on Stripe: it is followed (`checkout_session_open`)
    until Stripe confirms it closed, and a payment made on it takes the late-payment path.
    """
    with transaction.atomic():
        locked = _lock_listing_then_order(order_id)
        if locked is None:
            return False
        listing, order = locked
        if order.status != OrderStatus.AWAITING_PAYMENT:
            return False
        if expired_by and order.reserved_until and order.reserved_until > expired_by:
            return False
        if only_without_session and order.checkout_session_id:
            return False
        now = timezone.now()
        order.transition_to(to_status)
        order.released_at = now
        order.save()
        if to_status == OrderStatus.EXPIRED:  # not paid in time, or the payment failed
            order_mail_enqueue(order.pk, OrderStatus.EXPIRED)
        Listing.objects.filter(pk=listing.pk).update(
            available_units=F("available_units") + order.units, updated_at=now
        )
    return True

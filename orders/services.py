"""Order writes: buying (instant or through checkout), cancelling, reconciling.

Every path that changes stock holds the listing's row lock when it does, taken first, in the
one lock order of the project (listing → order → tokens, listings.lock_objects), so no two
paths can deadlock, two buyers can never get the same last unit, and every rule of buying is
checked once, under the lock (_check_can_buy). No lock and no transaction is held across a
call to Stripe: the checkout path reserves and commits, then creates the session, then
records it, and releases the units in a compensating transaction if Stripe fails. The locked
state changes live in orders.fulfilment, refunds in orders.refunds, the reservation sweep in
orders.reservations.
"""

import hashlib
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.template.defaultfilters import pluralize
from django.utils import timezone

from accounts.models import User
from core.errors import InvalidInput, NotFound
from listings.lock_objects import listing_lock
from listings.models import Listing
from orders import stripe_gateway
from orders.checkout_links import checkout_page_url
from orders.errors import (
    CheckoutPending,
    IdempotencyKeyReused,
    InsufficientUnits,
    ListingUnavailable,
    OrderStateConflict,
    PaymentProviderError,
    PaymentsUnavailable,
)
from orders.fulfilment import (
    deliver_units,
    order_checkout_closed,
    order_payment_confirmed,
    order_release,
)
from orders.models import RELEASED_STATUSES, Order, OrderStatus
from orders.reservations import reservations_sweep

logger = logging.getLogger(__name__)

MAX_UNITS_PER_ORDER = 1000
MAX_IDEMPOTENCY_KEY_LENGTH = 255
# Stripe accepts a Checkout Session expiry between 30 minutes and 24 hours from creation.
STRIPE_MIN_SESSION_MINUTES = 30
STRIPE_MAX_SESSION_MINUTES = 24 * 60


@dataclass(frozen=True)
class OrderOutcome:
    order: Order
    replayed: bool = False


def dev_checkout_enabled() -> bool:
    """The local stand-in for Stripe Checkout: debug only, and never beside a real Stripe."""
    return settings.DEBUG and not stripe_gateway.is_configured()


# --- Buying ---------------------------------------------------------------------------------


def order_create(
    *, buyer: User, listing_id: int, units: int, idempotency_key: str | None = None
) -> OrderOutcome:
    """Buy `units`: instantly up to SMALL_ORDER_LIMIT, else reserve and open a checkout."""
    if not 1 <= units <= MAX_UNITS_PER_ORDER:
        raise InvalidInput(f"units must be between 1 and {MAX_UNITS_PER_ORDER}.", field="units")
    if idempotency_key is not None:
        _check_idempotency_key(idempotency_key)
    fingerprint = hashlib.sha256(f"{listing_id}:{units}".encode()).hexdigest()
    if idempotency_key and (earlier := _earlier(buyer, idempotency_key, fingerprint)):
        return _with_checkout(earlier)
    try:
        outcome = _purchase_or_sweep(buyer, listing_id, units, idempotency_key, fingerprint)
    except IntegrityError:
        # A concurrent request with the same key committed first: answer with its order.
        if idempotency_key and (earlier := _earlier(buyer, idempotency_key, fingerprint)):
            return _with_checkout(earlier)
        raise
    return _with_checkout(outcome)


def _with_checkout(outcome: OrderOutcome) -> OrderOutcome:
    """An order awaiting payment leaves with the URL to pay it, whoever committed it: a retry
    may find it before its first request recorded the session, or after that request died."""
    if outcome.order.status == OrderStatus.AWAITING_PAYMENT and not outcome.order.checkout_url:
        _start_checkout(outcome.order)
    return outcome


def _purchase_or_sweep(
    buyer: User, listing_id: int, units: int, idempotency_key: str | None, fingerprint: str
) -> OrderOutcome:
    """Buy; if units are short only because reservations expired, release those and retry."""
    try:
        with transaction.atomic():
            return _purchase(buyer, listing_id, units, idempotency_key, fingerprint)
    except InsufficientUnits:
        if not reservations_sweep(listing_id=listing_id).released:
            raise
    with transaction.atomic():
        return _purchase(buyer, listing_id, units, idempotency_key, fingerprint)


def _check_idempotency_key(key: str) -> None:
    if not (0 < len(key) <= MAX_IDEMPOTENCY_KEY_LENGTH and key.isascii() and key.isprintable()):
        raise InvalidInput(
            f"Idempotency-Key must be 1 to {MAX_IDEMPOTENCY_KEY_LENGTH} printable ASCII "
            "characters.",
            field="Idempotency-Key",
        )


def _earlier(buyer: User, key: str, fingerprint: str) -> OrderOutcome | None:
    order = Order.objects.filter(buyer=buyer, idempotency_key=key).first()
    if order is None:
        return None
    if order.request_fingerprint != fingerprint:
        raise IdempotencyKeyReused(
            "This Idempotency-Key was already used for a different order request."
        )
    return OrderOutcome(order=order, replayed=True)


def _purchase(
    buyer: User, listing_id: int, units: int, idempotency_key: str | None, fingerprint: str
) -> OrderOutcome:
    """Buy inside the caller's transaction, under the listing's row lock: the stock is read,
    checked and taken while no other purchase of this listing can, and the order and its
    tokens are written before the lock ends with the commit."""
    listing = listing_lock(listing_id)
    if listing is None:
        raise InvalidInput("No listing with this id.", field="listing_id")
    # A concurrent retry with this key may have committed while we waited for the lock; it
    # may have taken the last units, so answer with its order before checking the stock.
    if idempotency_key and (earlier := _earlier(buyer, idempotency_key, fingerprint)):
        return earlier
    instant = _check_can_buy(listing, buyer, units)
    now = timezone.now()
    Listing.objects.filter(pk=listing.pk).update(
        available_units=F("available_units") - units,
        units_sold=F("units_sold") + (units if instant else 0),
        updated_at=now,
    )
    order = _order_create(buyer, listing, units, instant, idempotency_key, fingerprint, now)
    if instant:
        deliver_units(listing, order, now, count_sold=False)
    return OrderOutcome(order=order)


def _check_can_buy(listing: Listing, buyer: User, units: int) -> bool:
    """Refuse what cannot be bought (409) and say why; True when the purchase is instant."""
    if listing.seller_id == buyer.pk:
        raise ListingUnavailable("You cannot buy your own listing.")
    if listing.status != Listing.Status.ACTIVE:
        raise ListingUnavailable("This listing is not on sale right now.")
    if listing.available_units < units:
        raise InsufficientUnits(
            f"Only {listing.available_units} unit{pluralize(listing.available_units)} left; "
            f"you asked for {units}."
            if listing.available_units
            else "This listing is sold out."
        )
    instant = listing.price_per_unit * units <= settings.SMALL_ORDER_LIMIT
    if not instant and not (stripe_gateway.is_configured() or dev_checkout_enabled()):
        raise PaymentsUnavailable(
            f"Orders over {settings.SMALL_ORDER_LIMIT} {listing.currency} need card payment, "
            "which is not configured here; buy fewer units."
        )
    return instant


def _order_create(
    buyer: User,
    listing: Listing,
    units: int,
    instant: bool,
    idempotency_key: str | None,
    fingerprint: str,
    now: datetime,
) -> Order:
    return Order.objects.create(
        buyer=buyer,
        listing=listing,
        units=units,
        unit_price=listing.price_per_unit,
        total_price=listing.price_per_unit * units,
        currency=listing.currency,
        status=OrderStatus.FULFILLED if instant else OrderStatus.AWAITING_PAYMENT,
        payment_path=Order.PaymentPath.INSTANT if instant else Order.PaymentPath.CHECKOUT,
        idempotency_key=idempotency_key or "",
        request_fingerprint=fingerprint,
        reserved_until=None if instant else now + timedelta(minutes=settings.RESERVATION_MINUTES),
        fulfilled_at=now if instant else None,
    )


# --- Checkout -------------------------------------------------------------------------------


def _cents(amount: Decimal) -> int:
    return int((amount * 100).to_integral_value())


def _start_checkout(order: Order) -> None:
    """Open the payment page of a reserved (committed) order and record it, or give the units
    back. Several requests may do this for one order at once: the session's parameters come
    from the order alone and go with an idempotency key per order, so Stripe answers every
    call with the same session, or 409 while another call for it is still running."""
    if not stripe_gateway.is_configured():
        url = checkout_page_url("dev", order.pk, signed_at=order.created_at)
        Order.objects.filter(pk=order.pk, checkout_url="").update(checkout_url=url)
        order.checkout_url = url
        return
    minutes = min(
        max(settings.RESERVATION_MINUTES, STRIPE_MIN_SESSION_MINUTES), STRIPE_MAX_SESSION_MINUTES
    )
    try:
        session = stripe_gateway.checkout_session_create(
            order_id=order.pk,
            product_name=f"{order.listing.service_name} ({order.listing.unit_description})",
            units=order.units,
            unit_amount_cents=_cents(order.unit_price),
            currency=order.currency,
            success_url=checkout_page_url("success", order.pk, signed_at=order.created_at),
            cancel_url=checkout_page_url("cancel", order.pk, signed_at=order.created_at),
            expires_at=order.created_at + timedelta(minutes=minutes, seconds=30),
            order_created_at=order.created_at,
        )
    except stripe_gateway.PaymentGatewayError as exc:
        if exc.code == stripe_gateway.IDEMPOTENCY_KEY_IN_USE:
            raise CheckoutPending(
                "The payment page for this order is still being opened; retry in a moment."
            ) from exc
        _give_up_checkout(order, exc)
        return
    _record_session(order, session)


def _give_up_checkout(order: Order, exc: stripe_gateway.PaymentGatewayError) -> None:
    """Stripe failed: release the units, unless another request for this order has recorded
    its session meanwhile (then answer with that)."""
    with transaction.atomic():
        released = order_release(
            order_id=order.pk, to_status=OrderStatus.EXPIRED, only_without_session=True
        )
        if released:
            # The buyer is told to try again: free the Idempotency-Key, so a retry with it
            # opens a new checkout instead of replaying this dead order.
            Order.objects.filter(pk=order.pk).update(idempotency_key="")
    order.refresh_from_db()
    if order.status == OrderStatus.AWAITING_PAYMENT and order.checkout_url:
        return
    raise PaymentProviderError(
        "Card payment is unavailable right now; nothing was charged and the units were "
        "released. Try again in a moment.",
        transient=exc.transient,
    ) from exc


def _record_session(order: Order, session: stripe_gateway.CheckoutSession) -> None:
    """Record the session (the first request to get it does), and follow it from now on.

    Its URL leaves this function only once recorded, so any session a buyer can pay is known
    and followed until Stripe settles it (orders.reservations).
    """
    Order.objects.filter(pk=order.pk, checkout_session_id="").update(
        checkout_session_id=session.id, checkout_url=session.url, checkout_session_open=True
    )
    order.refresh_from_db(
        fields=["status", "checkout_session_id", "checkout_url", "checkout_session_open"]
    )
    if order.status == OrderStatus.AWAITING_PAYMENT and order.checkout_session_id == session.id:
        return
    # Released while Stripe answered (a concurrent retry gave up, the buyer cancelled): make
    # sure nobody pays it; if Stripe does not answer now, the sweeper closes it.
    _close_session_quietly(order.pk, session.id)
    raise OrderStateConflict(
        f"This order was {order.status.replace('_', ' ')} before its payment page opened; "
        "nothing was charged. Order again to buy."
    )


def order_cancel(*, order_id: int, buyer: User | None) -> Order:
    """The buyer gives up an awaiting order: units back now, the Stripe session expired after
    (outside any lock). If Stripe does not answer, the order stays marked with its session
    open, and a later cancel or the sweeper closes it, or settles a payment made on it.

    `buyer` None means the caller proved its right with a signed checkout link.
    """
    order = Order.objects.filter(pk=order_id).first()
    if order is None or (buyer is not None and order.buyer_id != buyer.pk):
        raise NotFound("No such order.")
    released = order_release(order_id=order_id, to_status=OrderStatus.CANCELLED)
    order.refresh_from_db()
    if not released and order.status != OrderStatus.CANCELLED:
        raise OrderStateConflict(
            f"Only orders awaiting payment can be cancelled; this one is {order.status}."
        )
    if order.checkout_session_open and order.checkout_session_id and stripe_gateway.is_configured():
        _close_session_quietly(order.pk, order.checkout_session_id)
        order.refresh_from_db()
    return order


def _close_session_quietly(order_id: int, session_id: str) -> None:
    """Best effort: expire the session now and stop following it; if Stripe does not
    answer, the sweeper keeps asking (a payment made on it meanwhile is fulfilled or
    refunded, never kept)."""
    try:
        stripe_gateway.checkout_session_expire(session_id)
    except stripe_gateway.PaymentGatewayError:
        logger.warning("order %s: checkout session left open; the sweeper follows it", order_id)
        return
    order_checkout_closed(order_id=order_id, session_id=session_id)


def order_checkout_reconcile(*, order_id: int) -> None:
    """Ask Stripe whether an order whose session may be paid was paid (the success page does
    this, so a buyer whose webhook is late still sees the result, including one who paid
    after a cancel Stripe never heard of)."""
    order = Order.objects.filter(pk=order_id).first()
    if not (
        order
        and order.checkout_session_id
        and stripe_gateway.is_configured()
        and (
            order.status == OrderStatus.AWAITING_PAYMENT
            or (order.status in RELEASED_STATUSES and order.checkout_session_open)
        )
    ):
        return
    try:
        session = stripe_gateway.checkout_session_retrieve(order.checkout_session_id)
    except stripe_gateway.PaymentGatewayError:
        return  # the webhook or the sweeper will settle it
    if session.paid:
        order_payment_confirmed(order_id=order_id, payment_intent_id=session.payment_intent_id)

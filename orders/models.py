"""Orders: a buyer's purchase of units, with the price as it was when they bought."""

from typing import ClassVar

from django.conf import settings
from django.db import models
from django.db.models import F
from django.db.models.functions import Round

from listings.models import Listing


class OrderStatus(models.TextChoices):
    AWAITING_PAYMENT = "awaiting_payment"  # units reserved, Checkout Session open
    FULFILLED = "fulfilled"  # paid (or instant), tokens issued
    CANCELLED = "cancelled"  # by the buyer before paying; units released
    EXPIRED = "expired"  # session expired, payment failed or reservation timed out
    REFUND_PENDING = "refund_pending"  # paid after release with no units left to give
    REFUNDED = "refunded"  # money returned, tokens revoked


# The order state machine: anything else is refused, so a late or repeated event cannot move
# an order backwards. A payment that arrives after a release either re-reserves units
# (released -> fulfilled) or, with none left, is marked for refund (see docs/decisions.md).
TRANSITIONS: dict[str, frozenset[str]] = {
    OrderStatus.AWAITING_PAYMENT: frozenset(
        {OrderStatus.FULFILLED, OrderStatus.CANCELLED, OrderStatus.EXPIRED}
    ),
    OrderStatus.CANCELLED: frozenset({OrderStatus.FULFILLED, OrderStatus.REFUND_PENDING}),
    OrderStatus.EXPIRED: frozenset({OrderStatus.FULFILLED, OrderStatus.REFUND_PENDING}),
    OrderStatus.FULFILLED: frozenset({OrderStatus.REFUNDED}),
    OrderStatus.REFUND_PENDING: frozenset({OrderStatus.REFUNDED}),
    OrderStatus.REFUNDED: frozenset(),
}
RELEASED_STATUSES = (OrderStatus.CANCELLED, OrderStatus.EXPIRED)


class IllegalTransition(Exception):
    """An order was asked to move where the state machine does not go."""


class Order(models.Model):
    Status = OrderStatus

    class PaymentPath(models.TextChoices):
        INSTANT = "instant"  # total <= SMALL_ORDER_LIMIT: tokens in the same transaction
        CHECKOUT = "checkout"  # Stripe Checkout (or the dev checkout), fulfilled on payment

    buyer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="orders"
    )
    listing = models.ForeignKey(Listing, on_delete=models.PROTECT, related_name="orders")
    units = models.PositiveIntegerField()
    # Snapshot of the price at purchase time; the listing's price may change later.
    unit_price = models.DecimalField(max_digits=10, decimal_places=2)
    total_price = models.DecimalField(max_digits=16, decimal_places=2)
    currency = models.CharField(max_length=3)
    status = models.CharField(max_length=20, choices=OrderStatus.choices)
    payment_path = models.CharField(max_length=10, choices=PaymentPath.choices)
    idempotency_key = models.CharField(max_length=255, blank=True)  # "" when none was sent
    # SHA-256 of what the first request asked for, so a reused key with a different body is
    # refused instead of silently answered with the wrong order.
    request_fingerprint = models.CharField(max_length=64, blank=True)
    # Checkout path: the reservation and the payment provider's references.
    reserved_until = models.DateTimeField(null=True, blank=True)
    checkout_session_id = models.CharField(max_length=255, blank=True)
    checkout_url = models.URLField(max_length=2000, blank=True)
    # True from the moment a Checkout Session is recorded until Stripe confirms nobody can pay
    # it any more (expired, paid, or its delayed payment failed). A released order whose
    # session is still open is followed by the sweeper, so a payment on it is never lost.
    checkout_session_open = models.BooleanField(default=False, db_default=False)
    payment_intent_id = models.CharField(max_length=255, blank=True)
    refund_id = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    fulfilled_at = models.DateTimeField(null=True, blank=True)
    released_at = models.DateTimeField(null=True, blank=True)
    refunded_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        permissions = [("refund_order", "Can refund orders")]
        constraints = [
            models.CheckConstraint(condition=models.Q(units__gt=0), name="order_units_gt_0"),
            # To the cent: SQLite (the demo database) computes with binary floating point,
            # where 0.10 x 3 is 0.30000000000000004 and an exact check refused the order.
            # PostgreSQL's product of a 2-place price and a count has 2 places already.
            models.CheckConstraint(
                condition=models.Q(total_price=Round(F("unit_price") * F("units"), 2)),
                name="order_total_is_unit_price_times_units",
            ),
            models.CheckConstraint(
                condition=models.Q(status__in=OrderStatus.values),
                name="order_status_valid",
            ),
            models.CheckConstraint(
                condition=~models.Q(status=OrderStatus.AWAITING_PAYMENT)
                | models.Q(reserved_until__isnull=False),
                name="order_awaiting_payment_has_reservation",
            ),
            models.UniqueConstraint(
                fields=["buyer", "idempotency_key"],
                condition=~models.Q(idempotency_key=""),
                name="order_idempotency_key_once_per_buyer",
            ),
            models.UniqueConstraint(
                fields=["checkout_session_id"],
                condition=~models.Q(checkout_session_id=""),
                name="order_checkout_session_once",
            ),
        ]
        indexes = [
            models.Index(fields=["buyer", "-id"], name="order_buyer_newest_idx"),
            models.Index(fields=["listing", "-id"], name="order_listing_newest_idx"),
            # The sweeper's scan: open reservations by expiry.
            models.Index(
                fields=["reserved_until"],
                condition=models.Q(status=OrderStatus.AWAITING_PAYMENT),
                name="order_open_reservation_idx",
            ),
            models.Index(
                fields=["id"],
                condition=models.Q(status=OrderStatus.REFUND_PENDING),
                name="order_refund_pending_idx",
            ),
            # The sweeper's other scan: released orders whose session may still be paid.
            models.Index(
                fields=["id"],
                condition=models.Q(checkout_session_open=True, status__in=RELEASED_STATUSES),
                name="order_open_session_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"Order {self.pk}"

    def transition_to(self, status: str) -> None:
        """Move along the state machine (the caller holds the order's row lock and saves)."""
        if status not in TRANSITIONS[self.status]:
            raise IllegalTransition(f"order {self.pk}: {self.status} -> {status}")
        self.status = status


class StripeEvent(models.Model):
    """Each webhook event processed, at most once: inserted with its effect, or not at all."""

    class Outcome(models.TextChoices):
        FULFILLED = "fulfilled"
        RELEASED = "released"
        REFUND_PENDING = "refund_pending"
        NO_CHANGE = "no_change"  # valid, but the order had already moved on
        UNPAID = "unpaid"  # completed without payment yet (async methods)
        UNKNOWN_ORDER = "unknown_order"
        IGNORED_TYPE = "ignored_type"
        # Its session id, amount or currency are not the ones recorded for the order.
        MISMATCH = "mismatch"
        MALFORMED = "malformed"  # signed, but not the shape of a Checkout Session event

    EVENT_ID_MAX_LENGTH: ClassVar[int] = 255
    TYPE_MAX_LENGTH: ClassVar[int] = 100

    event_id = models.CharField(max_length=EVENT_ID_MAX_LENGTH, unique=True)
    type = models.CharField(max_length=TYPE_MAX_LENGTH)
    order = models.ForeignKey(
        Order, on_delete=models.PROTECT, null=True, blank=True, related_name="stripe_events"
    )
    outcome = models.CharField(max_length=20, choices=Outcome.choices)
    livemode = models.BooleanField(default=False)
    received_at = models.DateTimeField(auto_now_add=True)

    RELEASING_TYPES: ClassVar[frozenset[str]] = frozenset(
        {"checkout.session.expired", "checkout.session.async_payment_failed"}
    )
    PAYING_TYPES: ClassVar[frozenset[str]] = frozenset(
        {"checkout.session.completed", "checkout.session.async_payment_succeeded"}
    )

    class Meta:
        indexes = [models.Index(fields=["order", "received_at"], name="stripeevent_order_idx")]

    def __str__(self) -> str:
        return f"{self.type} {self.event_id}"

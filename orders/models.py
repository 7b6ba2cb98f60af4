"""Orders: a buyer's purchase of units, with the price as it was when they bought."""

from django.conf import settings
from django.db import models
from django.db.models import F

from listings.models import Listing


class OrderStatus(models.TextChoices):
    AWAITING_PAYMENT = "awaiting_payment"
    FULFILLED = "fulfilled"
    CANCELLED = "cancelled"
    EXPIRED = "expired"
    REFUNDED = "refunded"


class Order(models.Model):
    Status = OrderStatus

    class PaymentPath(models.TextChoices):
        INSTANT = "instant"  # total <= SMALL_ORDER_LIMIT: tokens in the same transaction
        CHECKOUT = "checkout"  # Stripe Checkout, fulfilled by the webhook

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
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    fulfilled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=models.Q(units__gt=0), name="order_units_gt_0"),
            models.CheckConstraint(
                condition=models.Q(total_price=F("unit_price") * F("units")),
                name="order_total_is_unit_price_times_units",
            ),
            models.CheckConstraint(
                condition=models.Q(status__in=OrderStatus.values),
                name="order_status_valid",
            ),
            models.UniqueConstraint(
                fields=["buyer", "idempotency_key"],
                condition=~models.Q(idempotency_key=""),
                name="order_idempotency_key_once_per_buyer",
            ),
        ]
        indexes = [
            models.Index(fields=["buyer", "-id"], name="order_buyer_newest_idx"),
            models.Index(fields=["listing", "-id"], name="order_listing_newest_idx"),
        ]

    def __str__(self) -> str:
        return f"Order {self.pk}"

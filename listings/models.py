"""Listings of data services and the pool secrets some of them deliver."""

from decimal import Decimal

from django.conf import settings
from django.db import models

from tokens_vault.models import Secret

CURRENCIES = [("USD", "US dollar"), ("EUR", "Euro"), ("GBP", "Pound sterling")]


class ListingStatus(models.TextChoices):
    ACTIVE = "active"
    PAUSED = "paused"  # by the seller
    SUSPENDED = "suspended"  # by an operator
    PENDING_REVIEW = "pending_review"  # LISTING_REVIEW=pre, until an operator approves


class Listing(models.Model):
    Status = ListingStatus

    class DeliveryMode(models.TextChoices):
        SHARED = "shared", "One secret shared by every unit"
        POOL = "pool", "A distinct secret per unit"

    # What buyers see; `sold_out` is derived from an active listing with no units left, so
    # it can never disagree with the stock (see docs/decisions.md).
    PUBLIC_STATUSES = [*ListingStatus.choices, ("sold_out", "Sold out")]
    VISIBLE_STATUSES = (ListingStatus.ACTIVE,)

    seller = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="listings"
    )
    service_name = models.CharField(max_length=120)
    description = models.TextField(max_length=5000, blank=True)
    unit_description = models.CharField(max_length=120)
    price_per_unit = models.DecimalField(max_digits=10, decimal_places=2)
    currency = models.CharField(max_length=3, choices=CURRENCIES, default="USD")
    available_units = models.PositiveIntegerField(default=0)
    units_sold = models.PositiveIntegerField(default=0)
    status = models.CharField(
        max_length=20, choices=ListingStatus.choices, default=ListingStatus.ACTIVE
    )
    delivery_mode = models.CharField(max_length=10, choices=DeliveryMode.choices)
    endpoint_url = models.URLField(max_length=500, blank=True)
    # Shared mode only: the one secret every unit delivers.
    shared_secret = models.OneToOneField(
        Secret, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        permissions = [("moderate_listing", "Can approve, suspend and unsuspend listings")]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(available_units__gte=0), name="listing_available_units_gte_0"
            ),
            models.CheckConstraint(
                condition=models.Q(price_per_unit__gt=Decimal("0")), name="listing_price_gt_0"
            ),
            models.CheckConstraint(
                condition=models.Q(status__in=ListingStatus.values),
                name="listing_status_valid",
            ),
            models.CheckConstraint(
                condition=(
                    models.Q(delivery_mode="shared", shared_secret__isnull=False)
                    | models.Q(delivery_mode="pool", shared_secret__isnull=True)
                ),
                name="listing_secret_matches_delivery_mode",
            ),
        ]
        indexes = [
            models.Index(fields=["status", "-created_at"], name="listing_status_newest_idx"),
            models.Index(fields=["status", "price_per_unit"], name="listing_status_price_idx"),
            models.Index(fields=["status", "-units_sold"], name="listing_status_bestsell_idx"),
            models.Index(fields=["seller", "-created_at"], name="listing_seller_newest_idx"),
        ]

    def __str__(self) -> str:
        return self.service_name

    @property
    def public_status(self) -> str:
        if self.status == self.Status.ACTIVE and self.available_units == 0:
            return "sold_out"
        return self.status


class PoolSecret(models.Model):
    """One secret of a pool listing; delivered to exactly one token, at most once."""

    listing = models.ForeignKey(Listing, on_delete=models.PROTECT, related_name="pool_secrets")
    secret = models.OneToOneField(Secret, on_delete=models.PROTECT, related_name="pool_entry")
    delivered_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [
            # The purchase path's "next undelivered secrets of this listing".
            models.Index(
                fields=["listing", "id"],
                condition=models.Q(delivered_at__isnull=True),
                name="poolsecret_undelivered_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"Pool secret {self.pk} of listing {self.listing_id}"

"""Order writes: buying units of a listing, exactly once per Idempotency-Key.

The purchase runs in one transaction that locks the listing row first (lock order:
listing → order → tokens), so two buyers can never take the same last unit; the CHECK
constraint on available units is the last line of defence if code ever forgets.
"""

import hashlib
import uuid
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from accounts.models import User
from listings.lock_objects import listing_lock
from listings.models import Listing, PoolSecret
from marketplace.errors import DomainError, InvalidInput
from orders.models import Order
from tokens_vault.services import tokens_issue

MAX_UNITS_PER_ORDER = 1000
MAX_IDEMPOTENCY_KEY_LENGTH = 255


class InsufficientUnits(DomainError):
    code = "insufficient_units"


class ListingUnavailable(DomainError):
    code = "listing_unavailable"


class PaymentRequired(DomainError):
    code = "payment_required"


class IdempotencyKeyReused(DomainError):
    code = "idempotency_key_reused"


@dataclass(frozen=True)
class OrderOutcome:
    order: Order
    tokens_issued: int
    replayed: bool = False
    checkout_url: str | None = None

    @property
    def payment_requires_confirmation(self) -> bool:
        return self.order.status == Order.Status.AWAITING_PAYMENT


def order_create(
    *, buyer: User, listing_id: int, units: int, idempotency_key: str | None = None
) -> OrderOutcome:
    if not 1 <= units <= MAX_UNITS_PER_ORDER:
        raise InvalidInput(f"units must be between 1 and {MAX_UNITS_PER_ORDER}.", field="units")
    if idempotency_key is not None:
        _check_idempotency_key(idempotency_key)
    fingerprint = hashlib.sha256(f"{listing_id}:{units}".encode()).hexdigest()
    if idempotency_key and (earlier := _earlier(buyer, idempotency_key, fingerprint)):
        return earlier
    try:
        with transaction.atomic():
            return _purchase(buyer, listing_id, units, idempotency_key, fingerprint)
    except IntegrityError:
        # A concurrent request with the same key committed first: answer with its order.
        if idempotency_key and (earlier := _earlier(buyer, idempotency_key, fingerprint)):
            return earlier
        raise


def _check_idempotency_key(key: str) -> None:
    if (
        not key
        or len(key) > MAX_IDEMPOTENCY_KEY_LENGTH
        or not key.isascii()
        or not key.isprintable()
    ):
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
    return OrderOutcome(order=order, tokens_issued=order.tokens.count(), replayed=True)


def _purchase(
    buyer: User, listing_id: int, units: int, idempotency_key: str | None, fingerprint: str
) -> OrderOutcome:
    listing = listing_lock(listing_id)
    if listing is None:
        raise InvalidInput("No listing with this id.", field="listing_id")
    # A concurrent retry with this key may have committed while we waited for the lock; it
    # may have taken the last units, so answer with its order before checking the stock.
    if idempotency_key and (earlier := _earlier(buyer, idempotency_key, fingerprint)):
        return earlier
    if listing.seller_id == buyer.pk:
        raise ListingUnavailable("You cannot buy your own listing.")
    if listing.status != Listing.Status.ACTIVE:
        raise ListingUnavailable("This listing is not on sale right now.")
    if listing.available_units < units:
        raise InsufficientUnits(
            f"Only {listing.available_units} units left; you asked for {units}."
            if listing.available_units
            else "This listing is sold out."
        )
    total = listing.price_per_unit * units
    if total > settings.SMALL_ORDER_LIMIT:
        raise PaymentRequired(
            f"Orders over {settings.SMALL_ORDER_LIMIT} {listing.currency} need card payment, "
            "which is not available yet; buy fewer units."
        )
    now = timezone.now()
    Listing.objects.filter(pk=listing.pk).update(
        available_units=F("available_units") - units,
        units_sold=F("units_sold") + units,
        updated_at=now,
    )
    order = Order.objects.create(
        buyer=buyer,
        listing=listing,
        units=units,
        unit_price=listing.price_per_unit,
        total_price=total,
        currency=listing.currency,
        status=Order.Status.FULFILLED,
        payment_path=Order.PaymentPath.INSTANT,
        idempotency_key=idempotency_key or "",
        request_fingerprint=fingerprint,
        fulfilled_at=now,
    )
    tokens = tokens_issue(
        owner=buyer,
        order_id=order.pk,
        secret_ids=_secrets_to_deliver(listing, units, now),
        exclusive=listing.delivery_mode == Listing.DeliveryMode.POOL,
    )
    return OrderOutcome(order=order, tokens_issued=len(tokens))


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

"""Listing writes: create, update, restock, pool secret uploads.

Changes to stock take the listing's row lock (listings.lock_objects), the same lock purchases
take, so a seller's restock and a buyer's purchase can never overwrite each other.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from accounts.models import User
from accounts.services import seller_profile_ensure
from core.errors import DomainError, InvalidInput, NotFound
from listings.cache import listings_changed
from listings.lock_objects import listing_lock
from listings.models import Listing, PoolSecret
from listings.selectors import listing_get_for_seller
from tokens_vault.services import secret_plaintext, secret_replace, secrets_create

MAX_SECRET_LENGTH = 4096
MAX_SECRETS_PER_UPLOAD = 1000
MAX_UNITS = 1_000_000
SELLER_STATUSES = {Listing.Status.ACTIVE, Listing.Status.PAUSED}


class ListingStateConflict(DomainError):
    code = "listing_state_conflict"


@dataclass(frozen=True)
class ListingDetails:
    """What a seller describes; shared by create and update so both validate the same way."""

    service_name: str
    unit_description: str
    price_per_unit: Decimal
    description: str = ""
    currency: str = "USD"
    endpoint_url: str = ""


def _clean_secrets(secrets: Sequence[str]) -> list[str]:
    cleaned = [s.strip() for s in secrets]
    if len(cleaned) > MAX_SECRETS_PER_UPLOAD:
        raise InvalidInput(
            f"Upload at most {MAX_SECRETS_PER_UPLOAD} secrets at a time.", field="secrets"
        )
    for position, secret in enumerate(cleaned, start=1):
        if not secret:
            raise InvalidInput(f"Secret #{position} is empty.", field="secrets")
        if len(secret) > MAX_SECRET_LENGTH:
            raise InvalidInput(
                f"Secret #{position} is longer than {MAX_SECRET_LENGTH} characters.",
                field="secrets",
            )
    if len(set(cleaned)) != len(cleaned):
        raise InvalidInput("The same secret appears twice in this upload.", field="secrets")
    return cleaned


def _initial_status() -> str:
    if settings.LISTING_REVIEW == "pre":
        return Listing.Status.PENDING_REVIEW
    return Listing.Status.ACTIVE


@transaction.atomic
def listing_create(
    *,
    seller: User,
    details: ListingDetails,
    delivery_mode: str,
    shared_secret: str | None = None,
    units: int | None = None,
    pool_secrets: Sequence[str] = (),
) -> Listing:
    """A shared listing needs its secret and a unit count; a pool listing counts its secrets."""
    seller_profile_ensure(user=seller)
    listings_changed()  # a new public listing, unless the transaction fails
    listing = Listing(
        seller=seller, delivery_mode=delivery_mode, status=_initial_status(), **vars(details)
    )
    if delivery_mode == Listing.DeliveryMode.SHARED:
        if not shared_secret or not shared_secret.strip():
            raise InvalidInput("A shared listing needs its secret.", field="secret")
        if pool_secrets:
            raise InvalidInput("Only pool listings take a list of secrets.", field="secrets")
        if units is None:
            raise InvalidInput("A shared listing needs the number of units on sale.", field="units")
        [listing.shared_secret] = secrets_create(plaintexts=_clean_secrets([shared_secret]))
        listing.available_units = units
        listing.save()
        return listing
    if shared_secret is not None:
        raise InvalidInput("A pool listing takes a list of secrets, not one.", field="secret")
    if units is not None:
        raise InvalidInput(
            "A pool listing has one unit per secret; upload secrets instead.", field="units"
        )
    cleaned = _clean_secrets(pool_secrets)
    listing.save()
    _pool_add(listing, cleaned)
    return listing


def _pool_add(listing: Listing, plaintexts: list[str]) -> None:
    """Add secrets to a locked (or brand-new) pool listing and count them as units."""
    secrets = secrets_create(plaintexts=plaintexts)
    PoolSecret.objects.bulk_create([PoolSecret(listing=listing, secret=s) for s in secrets])
    Listing.objects.filter(pk=listing.pk).update(
        available_units=F("available_units") + len(secrets), updated_at=timezone.now()
    )
    listing.refresh_from_db(fields=["available_units", "updated_at"])


def _lock_own_listing(seller: User, listing_id: int) -> Listing:
    """403/404 unless the seller owns the listing, then its row lock (inside atomic)."""
    listing_get_for_seller(seller=seller, listing_id=listing_id)
    listing = listing_lock(listing_id)
    if listing is None:  # listings are PROTECTed from deletion; only a broken database gets here
        raise NotFound("No such listing.")
    return listing


@transaction.atomic
def pool_secrets_add(*, seller: User, listing_id: int, secrets: Sequence[str]) -> Listing:
    """Upload more secrets to a pool; none may repeat one already in the pool."""
    cleaned = _clean_secrets(secrets)
    if not cleaned:
        raise InvalidInput("Upload at least one secret.", field="secrets")
    listing = _lock_own_listing(seller, listing_id)
    if listing.delivery_mode != Listing.DeliveryMode.POOL:
        raise ListingStateConflict("Only pool listings take uploaded secrets.")
    # Under the listing lock, so two uploads cannot both add the same new secret.
    existing = {
        secret_plaintext(entry.secret)
        for entry in PoolSecret.objects.filter(listing=listing).select_related("secret")
    }
    repeated = sum(1 for s in cleaned if s in existing)
    if repeated:
        raise InvalidInput(
            f"{repeated} of these secrets are already in this pool; a pool secret is sold once.",
            field="secrets",
        )
    _pool_add(listing, cleaned)
    return listing


@transaction.atomic
def listing_update(*, seller: User, listing_id: int, changes: dict[str, Any]) -> Listing:
    """Apply a seller's partial update.

    `changes` may hold ListingDetails fields, `status` (active/paused), and for shared
    listings `units` (the new stock) and `secret` (re-sealed in place for every buyer).
    """
    listing = _lock_own_listing(seller, listing_id)
    changes = dict(changes)
    if "status" in changes:
        _change_status(listing, changes.pop("status"))
    if "units" in changes:
        if listing.delivery_mode != Listing.DeliveryMode.SHARED:
            raise InvalidInput(
                "A pool listing's units are its undelivered secrets; upload secrets instead.",
                field="units",
            )
        listing.available_units = changes.pop("units")
    if "secret" in changes:
        if listing.shared_secret is None:
            raise InvalidInput("Only shared listings have a single secret.", field="secret")
        [plaintext] = _clean_secrets([changes.pop("secret")])
        secret_replace(secret=listing.shared_secret, plaintext=plaintext)
    detail_fields = set(ListingDetails.__dataclass_fields__)
    unknown = set(changes) - detail_fields
    if unknown:
        raise InvalidInput(f"{sorted(unknown)[0]} cannot be changed.", field=sorted(unknown)[0])
    for field, value in changes.items():
        setattr(listing, field, value)
    listing.save()
    return listing


def _change_status(listing: Listing, status: str) -> None:
    if status not in SELLER_STATUSES:
        raise InvalidInput("A seller can set status to 'active' or 'paused'.", field="status")
    if listing.status not in SELLER_STATUSES:
        raise ListingStateConflict(
            f"This listing is {listing.status.replace('_', ' ')}; only an operator can change that."
        )
    listing.status = status

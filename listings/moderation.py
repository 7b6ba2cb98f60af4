"""Operators' moderation of listings: approve, suspend, unsuspend (SPEC §3, §9).

A suspended listing refuses orders (purchases accept only `active` listings) and leaves
browse for everyone but its seller and operators; tokens already sold keep revealing unless
revoked one by one, since buyers paid for them. Each act takes the listing's row lock, the
same one purchases take, so an order cannot slip in half-way through a suspension.
"""

from typing import NamedTuple

from django.db import transaction

from accounts.models import User
from audit.models import AuditAction
from audit.services import RequestOrigin, audit_record
from core.errors import Forbidden, NotFound
from listings.lock_objects import listing_lock
from listings.models import Listing
from listings.services import ListingStateConflict

Status = Listing.Status


class Moderation(NamedTuple):
    applies_to: frozenset[str]
    new_status: str
    done: str  # "suspended", for messages


MODERATION: dict[AuditAction, Moderation] = {
    AuditAction.LISTING_APPROVE: Moderation(
        frozenset({Status.PENDING_REVIEW}), Status.ACTIVE, "approved"
    ),
    AuditAction.LISTING_SUSPEND: Moderation(
        frozenset({Status.ACTIVE, Status.PAUSED, Status.PENDING_REVIEW}),
        Status.SUSPENDED,
        "suspended",
    ),
    # Back to active, even from pending review: the operator has just looked at it.
    AuditAction.LISTING_UNSUSPEND: Moderation(
        frozenset({Status.SUSPENDED}), Status.ACTIVE, "unsuspended"
    ),
}


@transaction.atomic
def listing_moderate(
    *, listing_id: int, action: AuditAction, actor: User, origin: RequestOrigin | None
) -> Listing:
    """Apply one moderation act; a listing in a state the act does not apply to is a 409
    naming that state (bulk callers count those as skipped)."""
    if not actor.is_staff:
        raise Forbidden("Only operators moderate listings.")
    applies_to, new_status, done = MODERATION[action]
    listing = listing_lock(listing_id)
    if listing is None:
        raise NotFound("No such listing.")
    if listing.status not in applies_to:
        raise ListingStateConflict(
            f"Listing {listing.pk} is {listing.status.replace('_', ' ')}, so it cannot be {done}."
        )
    old_status = listing.status
    listing.status = new_status
    listing.save(update_fields=["status", "updated_at"])
    audit_record(
        actor=actor,
        action=action,
        target=listing,
        origin=origin,
        summary=f"Listing {listing.pk} '{listing.service_name}': {old_status} → {new_status}",
    )
    return listing

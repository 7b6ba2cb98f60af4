"""Row locks on listings, in one place so every path locks in the same order.

Lock order everywhere: listing → order → tokens. A listing's row lock serialises everything
that changes it: purchases, releases, restocks, pool uploads, edits, moderation. So taking
the lock is also where the public listing cache learns of a change (listings.cache).
"""

from listings.cache import listings_changed
from listings.models import Listing


def listing_lock(listing_id: int) -> Listing | None:
    """Lock and return the listing (call inside `transaction.atomic`), or None if unknown."""
    listing = Listing.objects.select_for_update().filter(pk=listing_id).first()
    if listing is not None:
        listings_changed()
    return listing

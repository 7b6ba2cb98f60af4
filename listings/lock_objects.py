"""Row locks on listings, in one place so every path locks in the same order.

Lock order everywhere: listing → order → tokens. A listing's row lock serialises everything
that changes it: purchases, releases, restocks, pool uploads, edits, moderation. So taking
the lock is also where the public listing cache learns of a change (listings.cache).
"""

from listings.cache import listings_changed
from listings.models import Listing


def listing_lock(listing_id: int) -> Listing | None:
    """Lock and return the listing (call inside `transaction.atomic`), or None if unknown.

    FOR NO KEY UPDATE on PostgreSQL: it excludes every other writer of the row, yet lets
    rows that reference the listing (orders, pool secrets) be inserted meanwhile."""
    try:
        listing = Listing.objects.select_for_update(no_key=True).get(pk=listing_id)
    except Listing.DoesNotExist:
        return None
    listings_changed()
    return listing

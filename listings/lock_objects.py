"""Row locks on listings, in one place so every path locks in the same order.

Lock order everywhere: listing → order → tokens. A listing's row lock serialises everything
that changes its stock: purchases, restocks, pool uploads.
"""

from listings.models import Listing


def listing_lock(listing_id: int) -> Listing | None:
    """Lock and return the listing (call inside `transaction.atomic`), or None if unknown."""
    return Listing.objects.select_for_update().filter(pk=listing_id).first()

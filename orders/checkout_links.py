"""Signed links to an order's checkout pages (dev checkout, success, cancel).

Stripe returns the buyer to `success_url`/`cancel_url` without our session cookie, and API
buyers never had one; the signed order id in the link is what lets its holder see and cancel
that one order, as possession of a Stripe Checkout URL lets them pay it.
"""

from datetime import datetime, timedelta

from django.conf import settings
from django.core import signing
from django.urls import reverse

_SALT = "agora.orders.checkout-link"
# Long enough to outlive any reservation (Stripe sessions last at most 24 hours) and a return
# visit to the result page; the buyer's order pages never depend on it.
MAX_AGE = timedelta(days=7)


class _SignerAt(signing.TimestampSigner):
    """Signs as of a given moment instead of now."""

    def __init__(self, *, at: datetime, salt: str) -> None:
        super().__init__(salt=salt)
        self.at = at

    def timestamp(self) -> str:
        return signing.b62_encode(int(self.at.timestamp()))


def checkout_token(order_id: int, *, signed_at: datetime | None = None) -> str:
    """`signed_at` (e.g. the order's creation) makes the link the same whenever it is built,
    as Stripe's idempotency key needs of a retried session creation's parameters."""
    if signed_at is None:
        return signing.dumps(order_id, salt=_SALT, compress=True)
    return _SignerAt(at=signed_at, salt=_SALT).sign_object(order_id, compress=True)


def order_id_from_token(token: str) -> int | None:
    try:
        value = signing.loads(token, salt=_SALT, max_age=MAX_AGE)
    except signing.BadSignature:
        return None
    return value if isinstance(value, int) else None


def checkout_page_url(name: str, order_id: int, *, signed_at: datetime | None = None) -> str:
    """Absolute URL (under SITE_URL) of the `name` page: dev-checkout, success or cancel."""
    token = checkout_token(order_id, signed_at=signed_at)
    return settings.SITE_URL + reverse(f"checkout-{name}", kwargs={"token": token})

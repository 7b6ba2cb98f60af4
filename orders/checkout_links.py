"""Signed links to an order's checkout pages (dev checkout, success, cancel).

Stripe returns the buyer to `success_url`/`cancel_url` without our session cookie, and API
buyers never had one; the signed order id in the link is what lets its holder see and cancel
that one order, as possession of a Stripe Checkout URL lets them pay it.
"""

from datetime import timedelta

from django.conf import settings
from django.core import signing
from django.urls import reverse

_SALT = "agora.orders.checkout-link"
# Long enough to outlive any reservation (Stripe sessions last at most 24 hours) and a return
# visit to the result page; the buyer's order pages never depend on it.
MAX_AGE = timedelta(days=7)


def checkout_token(order_id: int) -> str:
    return signing.dumps(order_id, salt=_SALT, compress=True)


def order_id_from_token(token: str) -> int | None:
    try:
        value = signing.loads(token, salt=_SALT, max_age=MAX_AGE)
    except signing.BadSignature:
        return None
    return value if isinstance(value, int) else None


def checkout_page_url(name: str, order_id: int) -> str:
    """Absolute URL (under SITE_URL) of the `name` page: dev-checkout, success or cancel."""
    path = reverse(f"checkout-{name}", kwargs={"token": checkout_token(order_id)})
    return settings.SITE_URL + path

"""The common purchase in one statement on PostgreSQL: an instant buy of a shared listing.

Profiling showed purchases bound by CPU in the app, most of it ORM work around the five
statements of a purchase (docs/benchmarks.md). This path does the same writes in one
data-modifying statement, in autocommit: the conditional stock UPDATE (which takes the row
lock), the order and its tokens are written and committed in one round trip, so the lock is
held for the statement and its commit only.

It applies only when every condition holds; otherwise it writes nothing and returns None,
and orders.services takes the general path, which decides and explains (sold out, off sale,
own listing, pool, checkout, an idempotency key). The rules are the general path's; the
database constraints on stock, totals and statuses guard both.
"""

from datetime import datetime

from django.conf import settings
from django.db import connection

from accounts.models import User
from listings.cache import listings_changed
from listings.models import Listing
from orders.models import Order, OrderStatus

# The order as stored, every column in the model's field order, so that it loads with from_db.
ORDER_FIELDS = [field.attname for field in Order._meta.concrete_fields]
ORDER_COLUMNS = ", ".join(str(field.column) for field in Order._meta.concrete_fields)

PURCHASE = f"""
WITH stock AS (
    UPDATE listings_listing
    SET available_units = available_units - %(units)s,
        units_sold = units_sold + %(units)s,
        updated_at = %(now)s
    WHERE id = %(listing)s
      AND status = 'active'
      AND delivery_mode = 'shared'
      AND shared_secret_id IS NOT NULL
      AND seller_id <> %(buyer)s
      AND available_units >= %(units)s
      AND price_per_unit * %(units)s <= %(instant_limit)s
    RETURNING id, price_per_unit, currency, shared_secret_id, service_name, unit_description
), new_order AS (
    INSERT INTO orders_order (
        buyer_id, listing_id, units, unit_price, total_price, currency, status, payment_path,
        idempotency_key, request_fingerprint, checkout_session_id, checkout_url,
        payment_intent_id, refund_id, created_at, updated_at, fulfilled_at
    )
    SELECT %(buyer)s, id, %(units)s, price_per_unit, price_per_unit * %(units)s, currency,
           %(fulfilled)s, %(instant)s, '', %(fingerprint)s, '', '', '', '', %(now)s, %(now)s,
           %(now)s
    FROM stock
    RETURNING {ORDER_COLUMNS}
), new_tokens AS (
    INSERT INTO tokens_vault_token (owner_id, order_id, secret_id, exclusive, created_at)
    SELECT %(buyer)s, new_order.id, stock.shared_secret_id, false, %(now)s
    FROM new_order, stock, generate_series(1, %(units)s)
)
SELECT stock.service_name, stock.unit_description, new_order.*
FROM new_order, stock
"""  # noqa: S608 - the only interpolation is the model's own column names


def instant_shared_purchase(
    *, buyer: User, listing_id: int, units: int, fingerprint: str, now: datetime
) -> Order | None:
    """The order, bought; None when this path does not apply (nothing written). Outside a
    transaction (as views call it) the statement commits on its own: one round trip.

    The order is built from what the statement returned, not read back: its `listing`
    carries only the id, service name and unit description (what the API shows of it).
    """
    if connection.vendor != "postgresql":
        return None
    with connection.cursor() as cursor:
        cursor.execute(
            PURCHASE,
            {
                "units": units,
                "now": now,
                "listing": listing_id,
                "buyer": buyer.pk,
                "instant_limit": settings.SMALL_ORDER_LIMIT,
                "fulfilled": OrderStatus.FULFILLED,
                "instant": Order.PaymentPath.INSTANT,
                "fingerprint": fingerprint,
            },
        )
        row = cursor.fetchone()
    if row is None:
        return None
    listings_changed()
    service_name, unit_description, *stored = row
    order = Order.from_db(connection.alias, ORDER_FIELDS, stored)
    order.buyer = buyer
    order.listing = Listing.from_db(
        connection.alias,
        ["id", "service_name", "unit_description"],
        [listing_id, service_name, unit_description],
    )
    return order

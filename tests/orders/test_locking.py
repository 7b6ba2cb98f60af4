"""SPEC §5: two buyers never get the same unit. Every purchase (instant or checkout, shared
or pool, with or without an Idempotency-Key) takes the listing's row lock before it writes
anything, checks the rules under it, and writes the listing once."""

from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from listings.models import Listing
from orders.services import order_create
from tests.factories import UserFactory, make_listing

LISTING = '"listings_listing"'


def _statements(listing: Listing, units: int = 1, key: str | None = None) -> list[str]:
    buyer = UserFactory.create()
    with CaptureQueriesContext(connection) as queries:
        order_create(buyer=buyer, listing_id=listing.pk, units=units, idempotency_key=key)
    return [q["sql"] for q in queries.captured_queries]


@pytest.mark.usefixtures("require_postgres")
@pytest.mark.parametrize(
    ("price", "key", "pool"),
    [
        ("1.00", None, None),
        ("1.00", "retry-key-1", None),
        ("4.00", None, None),
        ("1.00", None, ["p-1", "p-2", "p-3"]),
    ],
    ids=["instant-shared", "instant-with-idempotency-key", "checkout", "instant-pool"],
)
def test_every_purchase_locks_the_listing_before_any_write(
    price: str, key: str | None, pool: list[str] | None, settings: Any
) -> None:
    settings.DEBUG = True  # the dev checkout stands in for Stripe on the checkout path
    listing = make_listing(units=3, price=price, pool=pool)
    statements = _statements(listing, units=2, key=key)

    locks = [i for i, sql in enumerate(statements) if LISTING in sql and "FOR NO KEY UPDATE" in sql]
    writes = [i for i, sql in enumerate(statements) if sql.startswith(("UPDATE", "INSERT"))]
    assert len(locks) == 1 and writes, statements
    assert locks[0] < min(writes), statements
    stock = [sql for sql in statements if sql.startswith(f"UPDATE {LISTING}")]
    assert len(stock) == 1, statements  # one write to the listing per purchase

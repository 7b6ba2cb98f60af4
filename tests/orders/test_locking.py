"""SPEC §5: the listing row is locked before its stock is read or written."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from orders.services import order_create
from tests.factories import UserFactory, make_listing

pytestmark = pytest.mark.usefixtures("require_postgres")


@pytest.mark.parametrize("pool", [None, ["p-1", "p-2", "p-3"]], ids=["shared", "pool"])
def test_purchase_locks_the_listing_before_any_write(pool: list[str] | None) -> None:
    listing = make_listing(units=3, pool=pool)
    buyer = UserFactory.create()

    with CaptureQueriesContext(connection) as queries:
        order_create(buyer=buyer, listing_id=listing.pk, units=1)

    statements = [q["sql"] for q in queries.captured_queries]
    table = '"listings_listing"'
    locks = [i for i, sql in enumerate(statements) if table in sql and "FOR UPDATE" in sql]
    assert locks, statements
    writes = [
        i for i, sql in enumerate(statements) if sql.startswith(("UPDATE", "INSERT", "DELETE"))
    ]
    assert writes, statements
    assert locks[0] < min(writes), statements

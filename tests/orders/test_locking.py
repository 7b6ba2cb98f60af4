"""SPEC §5: two buyers never get the same unit, and the listing's row lock, which limits a
hot listing, is held for the shortest span: a purchase takes it last, by its conditional
stock UPDATE; an instant pool purchase (which must pick distinct secrets) takes it first."""

from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from listings.models import Listing
from orders import services
from orders.errors import ListingUnavailable
from orders.models import Order
from orders.services import order_create
from tests.factories import UserFactory, make_listing
from tokens_vault.models import Token

LISTING = '"listings_listing"'


def _statements(listing: Listing, units: int = 1, key: str | None = None) -> list[str]:
    buyer = UserFactory.create()
    with CaptureQueriesContext(connection) as queries:
        order_create(buyer=buyer, listing_id=listing.pk, units=units, idempotency_key=key)
    return [q["sql"] for q in queries.captured_queries]


def _writes(statements: list[str]) -> list[str]:
    return [sql for sql in statements if sql.startswith(("UPDATE", "INSERT", "DELETE"))]


@pytest.mark.usefixtures("require_postgres")
def test_an_instant_shared_purchase_is_one_statement_with_the_stock_update_inside() -> None:
    statements = _statements(make_listing(units=3, price="1.00"), units=2)

    [purchase] = [sql for sql in statements if "listings_listing" in sql]
    assert purchase.lstrip().startswith("WITH stock AS (\n    UPDATE listings_listing")
    assert "available_units >= 2" in purchase
    assert "INSERT INTO orders_order" in purchase
    assert "INSERT INTO tokens_vault_token" in purchase
    assert "FOR UPDATE" not in purchase


@pytest.mark.usefixtures("require_postgres")
@pytest.mark.parametrize(
    ("price", "key"),
    [("1.00", "retry-key-1"), ("4.00", None)],
    ids=["instant-with-idempotency-key", "checkout"],
)
def test_other_purchases_take_the_listing_lock_last_by_a_conditional_update(
    price: str, key: str | None, settings: Any
) -> None:
    settings.DEBUG = True  # the dev checkout stands in for Stripe on the checkout path
    statements = _statements(make_listing(units=3, price=price), units=2, key=key)

    assert not [sql for sql in statements if LISTING in sql and "FOR UPDATE" in sql]
    writes = _writes(statements)
    stock = [sql for sql in writes if sql.startswith(f"UPDATE {LISTING}")]
    assert len(stock) == 1, writes  # one write to the listing per purchase
    assert '"available_units" >= 2' in stock[0]
    purchase_inserts = [
        i
        for i, sql in enumerate(writes)
        if sql.startswith(('INSERT INTO "orders_order"', 'INSERT INTO "tokens_vault_token"'))
    ]
    assert purchase_inserts, writes
    assert writes.index(stock[0]) > max(purchase_inserts), writes  # the lock comes last


@pytest.mark.usefixtures("require_postgres")
def test_an_instant_pool_purchase_locks_the_listing_before_any_write() -> None:
    statements = _statements(make_listing(units=3, pool=["p-1", "p-2", "p-3"]))

    locks = [i for i, sql in enumerate(statements) if LISTING in sql and "FOR UPDATE" in sql]
    writes = [i for i, sql in enumerate(statements) if sql.startswith(("UPDATE", "INSERT"))]
    assert locks and writes, statements
    assert locks[0] < min(writes), statements


@pytest.mark.django_db
def test_a_price_changed_since_it_was_read_is_refused_and_nothing_written(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The seller edits the price between the buyer's read and the stock UPDATE."""
    listing = make_listing(units=5, price="1.00")
    create_order = services._order_create

    def seller_edits_meanwhile(*args: Any) -> Order:
        Listing.objects.filter(pk=listing.pk).update(price_per_unit="2.00")
        return create_order(*args)

    monkeypatch.setattr(services, "_order_create", seller_edits_meanwhile)

    with pytest.raises(ListingUnavailable, match=r"price changed to 2\.00 USD"):
        # With a key: the general path (the one-statement path reads nothing beforehand).
        order_create(
            buyer=UserFactory.create(), listing_id=listing.pk, units=1, idempotency_key="k-1"
        )

    assert not Order.objects.exists()
    assert not Token.objects.exists()
    listing.refresh_from_db()
    assert (listing.available_units, listing.units_sold) == (5, 0)

"""Models and migrations agree, and data migrations keep what was there."""

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.core.management import call_command
from django.db import IntegrityError, connection, transaction
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from audit.models import AuditAction, AuditEntry
from listings.models import Listing
from orders.models import Order
from orders.services import order_create
from tests.factories import UserFactory, make_listing


@pytest.mark.django_db
def test_no_missing_migrations() -> None:
    call_command("makemigrations", "--check", "--dry-run", verbosity=0)


@pytest.mark.django_db(transaction=True)
def test_reveals_recorded_before_the_audit_log_move_into_it_with_their_times() -> None:
    """tokens_vault 0002 copies the old reveal log into audit.AuditEntry, once."""
    executor = MigrationExecutor(connection)
    old_state = [("tokens_vault", "0001_initial")]
    executor.migrate(old_state)
    old = executor.loader.project_state(old_state).apps
    buyer = old.get_model("accounts", "User").objects.create(email="old@example.test")
    listing_id = make_listing().pk  # today's models: the tables these use did not change
    token = _old_token(old, buyer, listing_id)
    seen_at = timezone.now() - timedelta(days=30)
    old.get_model("tokens_vault", "RevealAudit").objects.create(
        token=token, actor=buyer, ip="192.0.2.8", user_agent="old-client"
    )
    old.get_model("tokens_vault", "RevealAudit").objects.update(revealed_at=seen_at)

    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())

    [entry] = AuditEntry.objects.filter(action=AuditAction.TOKEN_REVEAL)
    assert (entry.actor_id, entry.target_id, entry.ip) == (buyer.pk, str(token.pk), "192.0.2.8")
    assert entry.created_at == seen_at


def _old_token(old: Any, buyer: Any, listing_id: int) -> Any:
    order = old.get_model("orders", "Order").objects.create(
        buyer_id=buyer.pk,
        listing_id=listing_id,
        units=1,
        unit_price=Decimal("1.00"),
        total_price=Decimal("1.00"),
        currency="USD",
        status="fulfilled",
        payment_path="instant",
    )
    secret_id = Listing.objects.get(pk=listing_id).shared_secret_id
    return old.get_model("tokens_vault", "Token").objects.create(
        owner_id=buyer.pk, order_id=order.pk, secret_id=secret_id, exclusive=False
    )


FOREIGN_KEYS_WITHOUT_A_LEADING_INDEX = """
SELECT c.conrelid::regclass::text, a.attname
FROM pg_constraint c
JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1]
WHERE c.contype = 'f' AND c.connamespace = 'public'::regnamespace
  AND NOT EXISTS (
    SELECT 1 FROM pg_index i WHERE i.indrelid = c.conrelid AND i.indkey[0] = c.conkey[1]
  )
ORDER BY 1, 2
"""


@pytest.mark.usefixtures("require_postgres")
def test_every_foreign_key_leads_some_index() -> None:
    """A reference without an index that leads with it makes deleting the referenced row,
    and every join on it, scan the whole table."""
    with connection.cursor() as cursor:
        cursor.execute(FOREIGN_KEYS_WITHOUT_A_LEADING_INDEX)
        assert cursor.fetchall() == []


@pytest.mark.django_db(transaction=True)
def test_the_order_total_check_is_replaced_both_ways_and_still_refuses_a_wrong_total() -> None:
    """orders 0003 swaps the check for one to the cent, keeping the orders there, and back."""
    buyer = UserFactory.create()
    before = order_create(buyer=buyer, listing_id=make_listing(price="1.25").pk, units=2).order
    executor = MigrationExecutor(connection)
    executor.migrate([("orders", "0002_order_refund_permission")])
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())

    after = order_create(buyer=buyer, listing_id=make_listing(price="0.10").pk, units=3).order
    assert [o.total_price for o in Order.objects.order_by("pk")] == [
        Decimal("2.50"),
        Decimal("0.30"),
    ]
    assert after.pk > before.pk
    with pytest.raises(IntegrityError), transaction.atomic():
        Order.objects.filter(pk=before.pk).update(total_price=Decimal("2.51"))
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT convalidated FROM pg_constraint WHERE conname = %s",
                ["order_total_is_unit_price_times_units"],
            )
            assert cursor.fetchall() == [(True,)]

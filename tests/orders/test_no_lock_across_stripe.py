"""SPEC §5: "No row lock is held across a network call" — on every path that calls Stripe.

While the app waits for each Stripe call, the local Stripe stand-in (fake_stripe.on_call, in
the HTTP server's thread) opens its own PostgreSQL connection and tries to lock every listing,
order, token and pool-secret row with `FOR UPDATE NOWAIT`, and looks for any other client
connection of the test database with a transaction open. A lock held or a transaction open
across the call fails the test. PostgreSQL only: SQLite has no row locks.
"""

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import psycopg
import pytest
from django.db import connection
from django.utils import timezone
from psycopg import errors
from rest_framework.test import APIClient

from accounts.models import User
from listings.models import Listing, PoolSecret
from orders.models import Order
from orders.reservations import reservations_sweep
from tests.factories import UserFactory, make_listing
from tests.stripe_fake import FakeStripe
from tokens_vault.models import Token

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("require_postgres")]

ORDERS = "/api/v1/orders"
LOCKABLE = [model._meta.db_table for model in (Listing, Order, Token, PoolSecret)]

Client = Callable[[User], APIClient]


@dataclass
class LockProbe:
    """Runs inside each Stripe call: records the path, and any lock or transaction held."""

    conninfo: dict[str, Any]
    paths: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    def __call__(self, path: str) -> None:
        self.paths.append(path)
        try:
            with psycopg.connect(**self.conninfo, connect_timeout=5) as probe:
                for table in LOCKABLE:
                    try:
                        probe.execute(f'SELECT 1 FROM "{table}" FOR UPDATE NOWAIT')  # noqa: S608
                    except errors.LockNotAvailable:
                        self.failures.append(f"{path}: a {table} row is locked")
                    probe.rollback()
                row = probe.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                    " AND pid <> pg_backend_pid() AND backend_type = 'client backend'"
                    " AND xact_start IS NOT NULL"
                ).fetchone()
                probe.rollback()
                if row is None or row[0]:
                    self.failures.append(f"{path}: {row} other transaction(s) open")
        except Exception as exc:  # the probe must not pass by failing to probe
            self.failures.append(f"{path}: probe failed: {exc!r}")

    def reset(self) -> None:
        """Forget the calls made while setting a test up: check only the step under test."""
        self.paths.clear()
        self.failures.clear()


@pytest.fixture
def probe(fake_stripe: FakeStripe) -> Iterator[LockProbe]:
    db = connection.settings_dict
    conninfo = {
        "dbname": db["NAME"],
        "user": db["USER"],
        "password": db["PASSWORD"] or None,
        "host": db["HOST"] or None,
        "port": db["PORT"] or None,
    }
    lock_probe = LockProbe(conninfo={k: v for k, v in conninfo.items() if v is not None})
    fake_stripe.on_call = lock_probe
    yield lock_probe
    fake_stripe.on_call = None


def _order(api: APIClient, listing: Listing, units: int = 3) -> dict[str, Any]:
    response = api.post(ORDERS, {"listing_id": listing.pk, "units": units}, format="json")
    assert response.status_code == 201, response.content
    order: dict[str, Any] = response.json()
    return order


def _session_path(fake: FakeStripe, order_id: int) -> str:
    return f"/v1/checkout/sessions/{fake.session_for(order_id)['id']}"


def _deliver(fake: FakeStripe, event_type: str, session: dict[str, Any]) -> None:
    response = fake.deliver(event_type, session)
    assert response.status_code == 200, response.content


def test_order_creation(probe: LockProbe, client_for: Client, buyer: User) -> None:
    order = _order(client_for(buyer), make_listing(units=10, price="4.00"))

    assert order["status"] == "awaiting_payment"
    assert probe.paths == ["/v1/checkout/sessions"]
    assert probe.failures == []


def test_order_creation_when_stripe_fails(
    probe: LockProbe, fake_stripe: FakeStripe, client_for: Client, buyer: User
) -> None:
    fake_stripe.down = True
    listing = make_listing(units=10, price="4.00")

    response = client_for(buyer).post(ORDERS, {"listing_id": listing.pk, "units": 3}, format="json")

    assert response.status_code == 503
    assert probe.paths == ["/v1/checkout/sessions"]
    assert probe.failures == []


def test_order_creation_that_sweeps_an_expired_reservation_first(
    probe: LockProbe, fake_stripe: FakeStripe, client_for: Client, buyer: User
) -> None:
    listing = make_listing(units=3, price="4.00")
    first = _order(client_for(buyer), listing)
    Order.objects.filter(pk=first["id"]).update(reserved_until=timezone.now() - timedelta(1))
    stale = _session_path(fake_stripe, first["id"])
    probe.reset()

    second = _order(client_for(UserFactory.create()), listing)

    assert second["status"] == "awaiting_payment"
    assert Order.objects.get(pk=first["id"]).status == "expired"
    assert probe.paths == [stale, f"{stale}/expire", "/v1/checkout/sessions"]
    assert probe.failures == []


def test_buyer_cancel(
    probe: LockProbe, fake_stripe: FakeStripe, client_for: Client, buyer: User
) -> None:
    api = client_for(buyer)
    order = _order(api, make_listing(units=10, price="4.00"))
    probe.reset()

    response = api.post(f"{ORDERS}/{order['id']}/cancel")

    assert response.json()["status"] == "cancelled"
    assert probe.paths == [f"{_session_path(fake_stripe, order['id'])}/expire"]
    assert probe.failures == []


def test_sweeper_releasing(
    probe: LockProbe, fake_stripe: FakeStripe, client_for: Client, buyer: User
) -> None:
    order = _order(client_for(buyer), make_listing(units=10, price="4.00"))
    probe.reset()

    report = reservations_sweep(now=timezone.now() + timedelta(days=1))

    assert report.released == 1
    session = _session_path(fake_stripe, order["id"])
    assert probe.paths == [session, f"{session}/expire"]
    assert probe.failures == []


def test_sweeper_reconciling_a_lost_webhook(
    probe: LockProbe, fake_stripe: FakeStripe, client_for: Client, buyer: User
) -> None:
    order = _order(client_for(buyer), make_listing(units=10, price="4.00"))
    fake_stripe.pay(fake_stripe.session_for(order["id"])["id"])
    probe.reset()

    report = reservations_sweep(now=timezone.now() + timedelta(days=1))

    assert report.fulfilled == 1
    assert probe.paths == [_session_path(fake_stripe, order["id"])]
    assert probe.failures == []


def test_success_page_reconciliation(
    probe: LockProbe, fake_stripe: FakeStripe, client_for: Client, buyer: User, settings: Any
) -> None:
    order = _order(client_for(buyer), make_listing(units=10, price="4.00"))
    session = fake_stripe.pay(fake_stripe.session_for(order["id"])["id"])
    probe.reset()

    page = APIClient().get(session["success_url"].removeprefix(settings.SITE_URL))

    assert page.status_code == 200
    assert Order.objects.get(pk=order["id"]).status == "fulfilled"
    assert probe.paths == [_session_path(fake_stripe, order["id"])]
    assert probe.failures == []


def test_operator_refund(
    probe: LockProbe, fake_stripe: FakeStripe, client_for: Client, buyer: User
) -> None:
    order = _order(client_for(buyer), make_listing(pool=[f"p-{i}" for i in range(5)], price="2.00"))
    _deliver(
        fake_stripe,
        "checkout.session.completed",
        fake_stripe.pay(fake_stripe.session_for(order["id"])["id"]),
    )
    probe.reset()

    response = client_for(UserFactory.create(is_staff=True)).post(f"{ORDERS}/{order['id']}/refund")

    assert response.json()["status"] == "refunded"
    assert probe.paths == ["/v1/refunds"]
    assert probe.failures == []


def test_automatic_refund_of_a_payment_that_came_after_release(
    probe: LockProbe, fake_stripe: FakeStripe, client_for: Client, buyer: User
) -> None:
    listing = make_listing(units=3, price="4.00")
    late = _order(client_for(buyer), listing)
    session = fake_stripe.session_for(late["id"])
    _deliver(fake_stripe, "checkout.session.expired", session)
    _order(client_for(UserFactory.create()), listing)  # takes the released units
    probe.reset()

    _deliver(fake_stripe, "checkout.session.completed", fake_stripe.pay(session["id"]))

    assert Order.objects.get(pk=late["id"]).status == "refunded"
    assert probe.paths == ["/v1/refunds"]
    assert probe.failures == []


def test_a_retry_that_opens_the_checkout_itself(
    probe: LockProbe, fake_stripe: FakeStripe, client_for: Client, buyer: User
) -> None:
    """Issue 14, class 8: the first request's worker died before recording its session."""
    api = client_for(buyer)
    listing = make_listing(units=10, price="4.00")
    body = {"listing_id": listing.pk, "units": 3}
    first = api.post(ORDERS, body, format="json", HTTP_IDEMPOTENCY_KEY="k-1").json()
    Order.objects.filter(pk=first["id"]).update(checkout_session_id="", checkout_url="")
    probe.reset()

    retried = api.post(ORDERS, body, format="json", HTTP_IDEMPOTENCY_KEY="k-1")

    assert retried.json()["checkout_url"] == first["checkout_url"]
    assert probe.paths == ["/v1/checkout/sessions"]
    assert probe.failures == []


def test_sweeper_following_a_session_a_cancel_could_not_close(
    probe: LockProbe, fake_stripe: FakeStripe, client_for: Client, buyer: User
) -> None:
    """Issue 14, class 4: cancelled while Stripe was down, then paid on Stripe."""
    api = client_for(buyer)
    order = _order(api, make_listing(units=10, price="4.00"))
    fake_stripe.down = True
    assert api.post(f"{ORDERS}/{order['id']}/cancel").json()["status"] == "cancelled"
    fake_stripe.down = False
    fake_stripe.pay(fake_stripe.session_for(order["id"])["id"])
    probe.reset()

    report = reservations_sweep()

    assert report.fulfilled == 1
    assert probe.paths == [_session_path(fake_stripe, order["id"])]
    assert probe.failures == []

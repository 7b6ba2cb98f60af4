"""Issue 14, class 4: no money kept without tokens, even across Stripe outages.

A buyer who cancels while Stripe is unreachable still has an open Checkout Session on
Stripe's side. If they pay on it and the webhook never arrives, the sweeper must find the
order and settle it with Stripe: fulfil it (units taken back) or refund it (units gone). An
order whose session Stripe has confirmed closed is not asked about again.

The real `stripe` SDK talks HTTP to the local stand-in of tests/stripe_fake.py; `pay` changes
the session on "Stripe" without sending any webhook, as when the webhook is lost.
"""

from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import User
from listings.models import Listing
from orders import reservations
from orders.models import Order
from orders.reservations import SweepReport, reservations_sweep
from tests.factories import UserFactory, make_listing
from tests.orders.helpers import ORDERS, available, checkout_order
from tests.stripe_fake import FakeStripe
from tokens_vault.models import Token

pytestmark = pytest.mark.django_db

Client = Callable[[User], APIClient]
Committed = Callable[[], AbstractContextManager[Any]]


def _session_calls(fake: FakeStripe, session_id: str) -> list[tuple[str, str]]:
    return [call for call in fake.calls if session_id in call[1]]


def _cancel_while_stripe_is_down(
    fake: FakeStripe, api: APIClient, listing: Listing, units: int = 3
) -> tuple[dict[str, Any], str]:
    """A checkout order, cancelled by its buyer while Stripe is unreachable: the order and
    its session's id."""
    order = checkout_order(api, listing, units)
    session_id = fake.session_for(order["id"])["id"]
    fake.down = True
    response = api.post(f"{ORDERS}/{order['id']}/cancel")
    fake.down = False
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "cancelled"
    assert fake.sessions[session_id]["status"] == "open"  # Stripe never heard of the cancel
    return order, session_id


def test_cancel_while_stripe_is_down_releases_the_units_at_once(
    fake_stripe: FakeStripe, client_for: Client, buyer: User
) -> None:
    listing = make_listing(units=10, price="4.00")

    order, _ = _cancel_while_stripe_is_down(fake_stripe, client_for(buyer), listing)

    assert available(listing) == 10
    assert Order.objects.get(pk=order["id"]).status == "cancelled"


def test_paid_after_a_cancel_stripe_missed_the_sweep_fulfils_when_units_are_left(
    fake_stripe: FakeStripe, client_for: Client, buyer: User, committed: Committed
) -> None:
    listing = make_listing(units=10, price="4.00")
    api = client_for(buyer)
    order, session_id = _cancel_while_stripe_is_down(fake_stripe, api, listing)
    paid = fake_stripe.pay(session_id)  # on the still-open page; the webhook is lost

    with committed():
        report = reservations_sweep()

    assert report.fulfilled == 1
    shown = api.get(f"{ORDERS}/{order['id']}").json()
    assert shown["status"] == "fulfilled"
    assert shown["tokens_issued"] == 3
    assert Order.objects.get(pk=order["id"]).payment_intent_id == paid["payment_intent"]
    assert Token.objects.filter(order_id=order["id"], owner=buyer).count() == 3
    assert available(listing) == 7
    assert fake_stripe.refunds == []


def test_paid_after_a_cancel_stripe_missed_the_sweep_refunds_when_units_are_gone(
    fake_stripe: FakeStripe, client_for: Client, buyer: User, committed: Committed
) -> None:
    listing = make_listing(units=3, price="2.00")
    api = client_for(buyer)
    order, session_id = _cancel_while_stripe_is_down(fake_stripe, api, listing)  # 6.00
    for _ in range(3):  # the released units sell (2.00 each: instant)
        other = client_for(UserFactory.create())
        bought = other.post(ORDERS, {"listing_id": listing.pk, "units": 1}, format="json")
        assert bought.json()["status"] == "fulfilled"
    paid = fake_stripe.pay(session_id)

    with committed():
        reservations_sweep()

    shown = api.get(f"{ORDERS}/{order['id']}").json()
    assert shown["status"] == "refunded"
    assert [refund["payment_intent"] for refund in fake_stripe.refunds] == [paid["payment_intent"]]
    assert not Token.objects.filter(order_id=order["id"]).exists()
    assert available(listing) == 0

    with committed():
        reservations_sweep()  # settled: nothing more to do, nothing refunded twice
    assert len(fake_stripe.refunds) == 1


def test_the_sweep_expires_the_session_a_cancel_could_not_and_then_forgets_it(
    fake_stripe: FakeStripe, client_for: Client, buyer: User
) -> None:
    listing = make_listing(units=10, price="4.00")
    order, session_id = _cancel_while_stripe_is_down(fake_stripe, client_for(buyer), listing)
    fake_stripe.calls.clear()

    first = reservations_sweep()

    assert first.sessions_closed == 1
    assert _session_calls(fake_stripe, session_id) == [
        ("GET", f"/v1/checkout/sessions/{session_id}"),
        ("POST", f"/v1/checkout/sessions/{session_id}/expire"),
    ]
    assert fake_stripe.sessions[session_id]["status"] == "expired"  # nobody can pay it now
    assert Order.objects.get(pk=order["id"]).status == "cancelled"
    assert available(listing) == 10

    fake_stripe.calls.clear()
    assert reservations_sweep() == SweepReport()
    assert fake_stripe.calls == []  # Stripe confirmed it closed: never asked again


def test_a_session_expired_by_its_webhook_is_confirmed_once_then_never_asked_again(
    fake_stripe: FakeStripe, client_for: Client, buyer: User
) -> None:
    listing = make_listing(units=10, price="4.00")
    order = checkout_order(client_for(buyer), listing)
    session = fake_stripe.expire_on_stripe(fake_stripe.session_for(order["id"])["id"])
    assert fake_stripe.deliver("checkout.session.expired", session).status_code == 200
    assert Order.objects.get(pk=order["id"]).status == "expired"
    fake_stripe.calls.clear()

    assert reservations_sweep().sessions_closed == 1
    assert fake_stripe.calls == [("GET", f"/v1/checkout/sessions/{session['id']}")]

    fake_stripe.calls.clear()
    reservations_sweep()
    assert fake_stripe.calls == []


def test_while_stripe_stays_down_the_order_is_kept_for_the_next_sweep(
    fake_stripe: FakeStripe, client_for: Client, buyer: User, committed: Committed
) -> None:
    listing = make_listing(units=10, price="4.00")
    order, session_id = _cancel_while_stripe_is_down(fake_stripe, client_for(buyer), listing)
    fake_stripe.pay(session_id)
    fake_stripe.down = True

    outage = reservations_sweep()

    assert outage.skipped == 1
    assert Order.objects.get(pk=order["id"]).status == "cancelled"

    fake_stripe.down = False
    with committed():
        assert reservations_sweep().fulfilled == 1
    assert Order.objects.get(pk=order["id"]).status == "fulfilled"


def test_a_second_cancel_retries_closing_the_session(
    fake_stripe: FakeStripe, client_for: Client, buyer: User
) -> None:
    listing = make_listing(units=10, price="4.00")
    api = client_for(buyer)
    order, session_id = _cancel_while_stripe_is_down(fake_stripe, api, listing)

    again = api.post(f"{ORDERS}/{order['id']}/cancel")

    assert again.status_code == 200
    assert again.json()["status"] == "cancelled"
    assert fake_stripe.sessions[session_id]["status"] == "expired"
    fake_stripe.calls.clear()
    assert reservations_sweep() == SweepReport()
    assert fake_stripe.calls == []
    assert available(listing) == 10


def test_a_delayed_payment_after_release_is_followed_until_it_settles(
    fake_stripe: FakeStripe, client_for: Client, buyer: User, committed: Committed
) -> None:
    """A bank debit completes the session unpaid; the money arrives days later, after the
    units were released, and its webhook is lost."""
    listing = make_listing(units=10, price="4.00")
    api = client_for(buyer)
    order = checkout_order(api, listing)
    session_id = fake_stripe.session_for(order["id"])["id"]
    fake_stripe.pay(session_id, payment_status="unpaid")
    later = timezone.now() + timedelta(hours=2)
    assert reservations_sweep(now=later).released == 1
    assert Order.objects.get(pk=order["id"]).status == "expired"

    assert reservations_sweep(now=later) == SweepReport()  # still processing: asked, kept
    fake_stripe.pay(session_id)  # the debit clears
    with committed():
        assert reservations_sweep(now=later).fulfilled == 1

    assert api.get(f"{ORDERS}/{order['id']}").json()["status"] == "fulfilled"
    assert available(listing) == 7


def test_a_delayed_payment_that_fails_is_asked_about_no_more(
    fake_stripe: FakeStripe, client_for: Client, buyer: User
) -> None:
    listing = make_listing(units=10, price="4.00")
    order = checkout_order(client_for(buyer), listing)
    session_id = fake_stripe.session_for(order["id"])["id"]
    fake_stripe.pay(session_id, payment_status="unpaid")
    api = client_for(buyer)
    assert api.post(f"{ORDERS}/{order['id']}/cancel").json()["status"] == "cancelled"
    fake_stripe.fail_payment(session_id)

    assert reservations_sweep().sessions_closed == 1
    fake_stripe.calls.clear()
    assert reservations_sweep() == SweepReport()
    assert fake_stripe.calls == []
    assert Order.objects.get(pk=order["id"]).status == "cancelled"
    assert available(listing) == 10


def test_the_success_page_settles_a_payment_made_after_a_missed_cancel(
    fake_stripe: FakeStripe, client_for: Client, buyer: User, settings: Any
) -> None:
    listing = make_listing(units=10, price="4.00")
    api = client_for(buyer)
    order, session_id = _cancel_while_stripe_is_down(fake_stripe, api, listing)
    session = fake_stripe.pay(session_id)

    page = APIClient().get(session["success_url"].removeprefix(settings.SITE_URL))

    assert page.status_code == 200
    assert api.get(f"{ORDERS}/{order['id']}").json()["status"] == "fulfilled"
    assert available(listing) == 7


@pytest.mark.usefixtures("require_postgres")
def test_the_sweepers_scan_of_open_sessions_uses_its_partial_index(
    fake_stripe: FakeStripe, client_for: Client, buyer: User
) -> None:
    listing = make_listing(units=10, price="4.00")
    _cancel_while_stripe_is_down(fake_stripe, client_for(buyer), listing)

    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        plan = reservations.open_sessions_of_released_orders().explain()

    assert "order_open_session_idx" in plan


@pytest.mark.django_db(transaction=True)
def test_the_migration_marks_the_sessions_that_may_still_be_paid() -> None:
    """orders 0006 follows the sessions of orders awaiting payment and of orders released in
    the last two days (a Checkout Session lives at most 24 hours); paid, instant and older
    orders are left alone."""
    executor = MigrationExecutor(connection)
    before = [("orders", "0003_order_total_check_to_the_cent")]
    executor.migrate(before)
    old = executor.loader.project_state(before).apps.get_model("orders", "Order")
    listing = make_listing(units=50, price="4.00")
    buyer = UserFactory.create()
    now = timezone.now()

    def order(status: str, session: str, age_hours: int = 1) -> int:
        created = old.objects.create(
            buyer_id=buyer.pk,
            listing_id=listing.pk,
            units=2,
            unit_price="4.00",
            total_price="8.00",
            currency="USD",
            status=status,
            payment_path="checkout" if session else "instant",
            checkout_session_id=session,
            reserved_until=now if status == "awaiting_payment" else None,
        )
        old.objects.filter(pk=created.pk).update(created_at=now - timedelta(hours=age_hours))
        return int(created.pk)

    awaiting = order("awaiting_payment", "cs_a")
    cancelled = order("cancelled", "cs_b")
    expired = order("expired", "cs_c", age_hours=30)
    old_cancel = order("cancelled", "cs_d", age_hours=24 * 3)
    paid = order("fulfilled", "cs_e")
    instant = order("fulfilled", "")

    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())

    open_ones = set(Order.objects.filter(checkout_session_open=True).values_list("pk", flat=True))
    assert open_ones == {awaiting, cancelled, expired}
    assert {old_cancel, paid, instant}.isdisjoint(open_ones)

"""SPEC §5 reservation timeout: expired, unpaid reservations give their units back exactly
once, after Stripe was asked whether they were paid after all (reconciliation).

The real `stripe` SDK talks to a local Stripe stand-in (tests/stripe_fake.py).
"""

from datetime import datetime, timedelta
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import User
from listings.models import Listing
from orders.models import Order
from orders.reservations import SweepReport, reservations_sweep
from tests.factories import UserFactory, bearer_token, make_listing
from tests.orders.helpers import available
from tests.stripe_fake import FakeStripe
from tests.threads import all_at_once
from tokens_vault.models import Token

pytestmark = pytest.mark.django_db

LATER = timedelta(hours=2)  # past the default 30-minute reservation


def _buy(buyer: User, listing: Listing, units: int) -> Any:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {bearer_token(buyer)}")
    return client.post("/api/v1/orders", {"listing_id": listing.pk, "units": units}, format="json")


def _reserve(listing: Listing, units: int = 2, buyer: User | None = None) -> Order:
    """An order on the checkout path (units x price above SMALL_ORDER_LIMIT)."""
    response = _buy(buyer or UserFactory.create(), listing, units)
    assert response.status_code == 201, response.content
    assert response.json()["status"] == "awaiting_payment"
    return Order.objects.get(pk=response.json()["id"])


def _status(order: Order) -> str:
    order.refresh_from_db()
    return order.status


def _session_calls(fake: FakeStripe, session_id: str) -> list[tuple[str, str]]:
    return [call for call in fake.calls if session_id in call[1]]


def _deliver(fake: FakeStripe, event_type: str, session: dict[str, Any]) -> str:
    response = fake.deliver(event_type, session)
    assert response.status_code == 200, response.content
    return str(response.json()["outcome"])


def _later() -> datetime:
    return timezone.now() + LATER


def test_the_sweep_releases_exactly_the_reservations_that_ran_out(
    fake_stripe: FakeStripe, settings: Any
) -> None:
    listing = make_listing(units=20, price="3.00")
    stale = [_reserve(listing), _reserve(listing)]
    settings.RESERVATION_MINUTES = 180
    fresh = _reserve(listing)
    assert available(listing) == 14
    cutoff = stale[-1].reserved_until
    assert cutoff is not None

    report = reservations_sweep(now=cutoff)

    assert report == SweepReport(released=2)
    assert [_status(order) for order in stale] == ["expired", "expired"]
    assert _status(fresh) == "awaiting_payment"
    assert available(listing) == 18
    assert _session_calls(fake_stripe, fresh.checkout_session_id) == []  # not even asked
    assert fake_stripe.sessions[fresh.checkout_session_id]["status"] == "open"


def test_a_reservation_is_kept_until_its_last_moment(fake_stripe: FakeStripe) -> None:
    listing = make_listing(units=5, price="3.00")
    order = _reserve(listing)
    assert order.reserved_until is not None

    early = reservations_sweep(now=order.reserved_until - timedelta(seconds=1))

    assert early == SweepReport()
    assert _status(order) == "awaiting_payment"
    assert reservations_sweep(now=order.reserved_until).released == 1


def test_the_sweep_asks_stripe_and_expires_the_open_session_before_releasing(
    fake_stripe: FakeStripe,
) -> None:
    listing = make_listing(units=5, price="3.00")
    order = _reserve(listing)
    session_id = order.checkout_session_id
    fake_stripe.calls.clear()

    reservations_sweep(now=_later())

    assert _session_calls(fake_stripe, session_id) == [
        ("GET", f"/v1/checkout/sessions/{session_id}"),
        ("POST", f"/v1/checkout/sessions/{session_id}/expire"),
    ]
    assert fake_stripe.sessions[session_id]["status"] == "expired"  # nobody can pay now
    assert _status(order) == "expired"
    assert available(listing) == 5


def test_a_paid_session_whose_webhook_was_lost_is_fulfilled_not_released(
    fake_stripe: FakeStripe,
) -> None:
    listing = make_listing(units=5, price="3.00")
    buyer = UserFactory.create()
    order = _reserve(listing, units=2, buyer=buyer)
    session = fake_stripe.pay(order.checkout_session_id)  # ...and the webhook never arrives

    report = reservations_sweep(now=_later())

    assert report == SweepReport(fulfilled=1)
    order.refresh_from_db()
    assert order.status == "fulfilled"
    assert order.payment_intent_id == session["payment_intent"]
    assert Token.objects.filter(order=order, owner=buyer).count() == 2
    assert available(listing) == 3
    assert fake_stripe.sessions[order.checkout_session_id]["status"] == "complete"

    # The webhook turning up after all changes nothing.
    assert _deliver(fake_stripe, "checkout.session.completed", session) == "no_change"
    assert Token.objects.filter(order=order).count() == 2


def test_a_session_that_stripe_already_expired_is_released_without_expiring_again(
    fake_stripe: FakeStripe,
) -> None:
    """Stripe expired the session itself and its `expired` webhook was lost."""
    listing = make_listing(units=5, price="3.00")
    order = _reserve(listing)
    fake_stripe.expire_on_stripe(order.checkout_session_id)
    fake_stripe.calls.clear()

    assert reservations_sweep(now=_later()) == SweepReport(released=1)
    assert fake_stripe.calls == [("GET", f"/v1/checkout/sessions/{order.checkout_session_id}")]
    assert _status(order) == "expired"
    assert available(listing) == 5


def test_a_buyer_who_pays_while_the_sweeper_expires_the_session_gets_the_order(
    fake_stripe: FakeStripe,
) -> None:
    """Stripe refuses to expire a session that has just been paid: the sweeper reads it again
    and fulfils instead of releasing."""
    listing = make_listing(units=5, price="3.00")
    buyer = UserFactory.create()
    order = _reserve(listing, buyer=buyer)
    session_id = order.checkout_session_id

    def pay_just_before_the_expire(path: str) -> None:
        if path.endswith("/expire"):
            fake_stripe.pay(session_id)

    fake_stripe.on_call = pay_just_before_the_expire

    report = reservations_sweep(now=_later())

    assert report == SweepReport(fulfilled=1)
    assert _status(order) == "fulfilled"
    assert Token.objects.filter(order=order, owner=buyer).count() == 2
    assert available(listing) == 3


def test_with_stripe_unreachable_the_order_is_skipped_and_settled_by_a_later_sweep(
    fake_stripe: FakeStripe,
) -> None:
    listing = make_listing(units=5, price="3.00")
    order = _reserve(listing)
    fake_stripe.down = True

    outage = reservations_sweep(now=_later())

    assert outage == SweepReport(skipped=1)
    assert _status(order) == "awaiting_payment"  # it may have been paid: not released blind
    assert available(listing) == 3

    fake_stripe.down = False
    recovered = reservations_sweep(now=_later())

    assert recovered == SweepReport(released=1)
    assert _status(order) == "expired"
    assert available(listing) == 5


def test_during_an_outage_the_sweep_stops_at_the_first_failure(fake_stripe: FakeStripe) -> None:
    """One failed call is enough to know Stripe is down; waiting out a timeout per order would
    stall cron and any buyer whose purchase triggered the sweep."""
    listing = make_listing(units=9, price="3.00")
    orders = [_reserve(listing) for _ in range(3)]
    fake_stripe.calls.clear()
    fake_stripe.down = True

    report = reservations_sweep(now=_later())

    assert report == SweepReport(skipped=3)
    assert len(fake_stripe.calls) == 1
    assert all(_status(order) == "awaiting_payment" for order in orders)


def test_a_session_stripe_does_not_know_is_released(fake_stripe: FakeStripe) -> None:
    """Nobody can pay a session Stripe has never heard of (say, after switching accounts)."""
    listing = make_listing(units=5, price="3.00")
    order = _reserve(listing)
    Order.objects.filter(pk=order.pk).update(checkout_session_id="cs_test_unknown")

    report = reservations_sweep(now=_later())

    assert report == SweepReport(released=1)
    assert _status(order) == "expired"
    assert available(listing) == 5


def test_an_order_left_without_a_session_is_released(fake_stripe: FakeStripe) -> None:
    """A crash between reserving (committed) and recording the session leaves no session id."""
    listing = make_listing(units=5, price="3.00")
    order = _reserve(listing)
    Order.objects.filter(pk=order.pk).update(checkout_session_id="", checkout_url="")
    fake_stripe.calls.clear()

    report = reservations_sweep(now=_later())

    assert report == SweepReport(released=1)
    assert _status(order) == "expired"
    assert available(listing) == 5
    assert fake_stripe.calls == []


def test_the_command_prints_its_counts_and_a_second_run_releases_nothing(
    fake_stripe: FakeStripe, settings: Any
) -> None:
    settings.RESERVATION_MINUTES = 0  # every reservation has already run out
    listing = make_listing(units=10, price="3.00")
    unpaid = [_reserve(listing), _reserve(listing)]
    paid = _reserve(listing)
    fake_stripe.pay(paid.checkout_session_id)

    first, second = StringIO(), StringIO()
    call_command("sweep_reservations", stdout=first)
    call_command("sweep_reservations", stdout=second)

    assert first.getvalue().strip() == (
        "released 2, fulfilled 1, skipped 0 (Stripe unreachable), refunds settled 0, "
        "sessions closed 0, refunds due 0"
    )
    assert second.getvalue().strip() == (
        "released 0, fulfilled 0, skipped 0 (Stripe unreachable), refunds settled 0, "
        "sessions closed 0, refunds due 0"
    )
    assert [_status(order) for order in unpaid] == ["expired", "expired"]
    assert _status(paid) == "fulfilled"
    assert available(listing) == 8


def test_a_buyer_gets_units_held_only_by_an_expired_reservation(
    fake_stripe: FakeStripe, settings: Any
) -> None:
    listing = make_listing(units=3, price="2.00")
    settings.RESERVATION_MINUTES = 0
    abandoned = _reserve(listing, units=3)  # 6.00: checkout; nobody pays
    assert available(listing) == 0

    response = _buy(UserFactory.create(), listing, 2)  # 4.00: instant

    assert response.status_code == 201, response.content
    assert response.json()["status"] == "fulfilled"
    assert response.json()["tokens_issued"] == 2
    assert _status(abandoned) == "expired"
    assert fake_stripe.sessions[abandoned.checkout_session_id]["status"] == "expired"
    assert available(listing) == 1


def test_a_reservation_that_has_not_run_out_still_holds_its_units(
    fake_stripe: FakeStripe,
) -> None:
    listing = make_listing(units=3, price="2.00")
    held = _reserve(listing, units=3)

    response = _buy(UserFactory.create(), listing, 1)

    assert response.status_code == 409, response.content
    assert _status(held) == "awaiting_payment"
    assert available(listing) == 0


def test_a_refund_stuck_while_stripe_was_down_is_settled_by_the_next_full_sweep(
    fake_stripe: FakeStripe, django_capture_on_commit_callbacks: Any
) -> None:
    listing = make_listing(units=2, price="3.00")
    late = _reserve(listing, units=2)  # 6.00: checkout
    session = fake_stripe.session_for(late.pk)
    _deliver(fake_stripe, "checkout.session.expired", {**session, "status": "expired"})
    for _ in range(2):  # the released units sell to others (3.00 each: instant)
        assert _buy(UserFactory.create(), listing, 1).json()["status"] == "fulfilled"
    paid = fake_stripe.pay(late.checkout_session_id)  # the first buyer pays after all
    fake_stripe.down = True
    with django_capture_on_commit_callbacks(execute=True):
        outcome = _deliver(fake_stripe, "checkout.session.completed", paid)
    assert outcome == "refund_pending"
    assert _status(late) == "refund_pending"  # Stripe refused the refund for now
    assert fake_stripe.refunds == []

    assert reservations_sweep().refunds_settled == 0  # Stripe still down
    assert _status(late) == "refund_pending"

    fake_stripe.down = False
    assert reservations_sweep(listing_id=listing.pk).refunds_settled == 0  # scoped: not its job
    assert _status(late) == "refund_pending"
    report = reservations_sweep()

    assert report.refunds_settled == 1
    assert _status(late) == "refunded"
    assert [refund["payment_intent"] for refund in fake_stripe.refunds] == [paid["payment_intent"]]
    assert reservations_sweep().refunds_settled == 0
    assert len(fake_stripe.refunds) == 1
    assert available(listing) == 0
    assert not Token.objects.filter(order=late).exists()


# --- PostgreSQL: two sweepers at once ---------------------------------------------------


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("require_postgres")
@pytest.mark.parametrize("with_sessions", [True, False], ids=["asking-stripe", "no-sessions"])
def test_two_sweepers_at_once_release_each_expired_reservation_exactly_once(
    fake_stripe: FakeStripe, settings: Any, with_sessions: bool
) -> None:
    """Without sessions both sweepers go straight to the locked release, so they collide on
    the same rows; with sessions they also race on Stripe (expire refused for the loser)."""
    listings = [make_listing(units=12, price="3.00") for _ in range(2)]
    expired = [_reserve(listing) for listing in listings for _ in range(3)]
    settings.RESERVATION_MINUTES = 600
    fresh = [_reserve(listing) for listing in listings]
    if not with_sessions:
        Order.objects.update(checkout_session_id="", checkout_url="")
    now = _later()
    reports: list[SweepReport] = []

    def sweep() -> None:
        reports.append(reservations_sweep(now=now))

    all_at_once([sweep, sweep])

    assert sum(report.released for report in reports) == len(expired)
    assert sum(report.skipped + report.fulfilled for report in reports) == 0
    assert [_status(order) for order in expired] == ["expired"] * len(expired)
    assert [_status(order) for order in fresh] == ["awaiting_payment"] * len(fresh)
    assert [available(listing) for listing in listings] == [10, 10]  # 12 - 1 fresh x 2 units

"""SPEC §5 (orders and payments): random payment histories keep the books balanced.

A Hypothesis state machine (issue 3) plays buyers, Stripe, an operator, a seller and cron
against the real app. Every history starts in mid-flight (an order awaiting payment, one paid
whose event has not arrived, one paid and then cancelled on our site), then buyers order
through the API (instant and checkout orders, some sent again with the same Idempotency-Key),
pay on a local Stripe (card, or a bank debit that succeeds or fails later), come back to the
success page, cancel or walk away. Stripe sends its events to
``/api/v1/payments/stripe/webhook``, signed as Stripe signs them, in batches, in any order,
again, or not yet, and its API is down now and then. An operator refunds, the seller pauses
and resumes the listings, and cron sweeps reservations with the clock moved to or past their
end.

Definitions, per listing, from the orders of the current example (they follow
orders.models and docs/decisions.md; refunds never restock):

- listed: the units the listing was created with (pool: its secrets; nothing restocks here).
- available: ``Listing.available_units``.
- reserved: units of orders in ``awaiting_payment``.
- sold: units of orders ever fulfilled, i.e. seen ``fulfilled`` when created or after some
  step; they stay sold when refunded. A ``refund_pending`` order (paid after its units were
  released, with none left to take back) holds no units, nor does the ``refunded`` order it
  becomes.
- tokens issued: the Token rows of the listing's orders, revoked ones included.

Checked after every step:

1. sold + reserved + available = listed; available >= 0; ``Listing.units_sold`` = sold; a
   pool listing has available + reserved undelivered secrets and sold delivered ones.
2. Tokens issued = sold: each order has 0 tokens or exactly its units, its units iff it was
   ever fulfilled (so no order is fulfilled twice); they belong to the buyer, deliver the
   listing's secret(s), are all revoked iff the order is refunded; no pool secret is in two
   tokens, and a pool secret is marked delivered iff a token holds it.
3. The statuses seen for each order move along orders.models.TRANSITIONS (several edges may
   pass within one step, as released -> refund_pending -> refunded; never backwards), and
   ``fulfilled_at`` is set iff the order was seen fulfilled.
4. Money: a checkout order is fulfilled only if its session is paid on Stripe; Stripe holds
   exactly one refund per refunded Stripe payment and none for anything else; every accepted
   event id is stored once.

Each rule also checks its own answer (status codes, the webhook's outcome, which orders a
sweep released), and ``everything_settles`` delivers every outstanding event and sweeps after
all reservations ended, then checks that every buyer who paid has the units or the money
back and every buyer who did not pay has nothing.

State between examples: the test holds pytest-django's per-test transaction; each example
runs inside its own savepoint, rolled back in ``teardown``, with a reset fake Stripe, a clean
cache and fresh users and listings. ``transaction.on_commit`` callbacks (the refund of an
order paid too late) run at the end of each request, as they would after its commit.

Derandomized: CI runs the same 30 sequences every time, so a red build is a regression and
never a lucky draw, and a failure reproduces on any machine. The mid-flight start is what
makes 30 enough: Hypothesis's swarm testing leaves many sequences with a few rules only, and a
late payment needs paying, cancelling and delivering in that order. Set
``PAYMENT_PROPERTIES_EXPLORE=1`` to search 300 fresh random sequences locally.
"""

import json
import os
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.test import TestCase
from django.utils import timezone
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from rest_framework.test import APIClient

from accounts.models import User
from listings.models import Listing, PoolSecret
from orders.models import TRANSITIONS, Order, OrderStatus, StripeEvent
from orders.reservations import reservations_sweep
from tests.factories import UserFactory, bearer_token, make_listing
from tests.stripe_fake import FakeStripe
from tokens_vault.models import Token

WEBHOOK = "/api/v1/payments/stripe/webhook"
PAID_STATUSES = ("paid", "no_payment_required")
AWAITING = OrderStatus.AWAITING_PAYMENT
RELEASED = (OrderStatus.CANCELLED, OrderStatus.EXPIRED)
# Whether Stripe's API answers during a step: mostly, with outages now and then.
STRIPE = st.sampled_from(["up", "up", "up", "down"])

EXPLORE = os.environ.get("PAYMENT_PROPERTIES_EXPLORE") == "1"
MACHINE_SETTINGS = hypothesis_settings(
    max_examples=300 if EXPLORE else 30,
    stateful_step_count=20,
    deadline=None,
    derandomize=not EXPLORE,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)


def _reachable() -> dict[str, frozenset[str]]:
    """Every status an order can get to from each status, in one or more transitions."""
    closure: dict[str, frozenset[str]] = {}
    for start in TRANSITIONS:
        seen: set[str] = set()
        todo = [start]
        while todo:
            for following in TRANSITIONS[todo.pop()]:
                if following not in seen:
                    seen.add(following)
                    todo.append(following)
        closure[start] = frozenset(seen)
    return closure


REACHABLE = _reachable()


@dataclass(frozen=True)
class Stock:
    listing_id: int
    listed: int
    price: Decimal
    pool: bool


@dataclass(frozen=True)
class Delivery:
    """One event as Stripe sends it: the same bytes on every retry, signed afresh each time."""

    event_id: str
    type: str
    order_id: int
    payment_status: str
    body: bytes = field(repr=False)


@dataclass(frozen=True)
class Answer:
    status: int
    body: Any
    headers: dict[str, str]


class PaymentMachine(RuleBasedStateMachine):
    def __init__(self, fake: FakeStripe, clients: list[APIClient]) -> None:
        """`clients`: six API clients shared by every example (a new client's handler loads
        the middleware again, which costs more than the requests it would serve)."""
        super().__init__()
        self.fake = fake
        fake.reset()
        cache.clear()  # rate-limit counters and cached pages start afresh with the data
        self.savepoint = transaction.savepoint_create()
        self.seller = UserFactory.create()
        self.operator = UserFactory.create(is_staff=True)
        self.buyers = [UserFactory.create() for _ in range(3)]
        self.stripe_client = clients[0]  # Stripe posts its events without credentials
        self.stripe_client.credentials()
        self.clients: dict[int, APIClient] = {}
        users = [self.seller, self.operator, *self.buyers]
        for user, client in zip(users, clients[1:], strict=True):
            client.credentials(HTTP_AUTHORIZATION=f"Bearer {bearer_token(user)}")
            self.clients[user.pk] = client
        # One unit is an instant order, two or three go through Checkout. Little stock, so
        # payments arriving after a release often find the units gone.
        shared = make_listing(seller=self.seller, units=8, price="3.00")
        pool = make_listing(
            seller=self.seller, price="4.00", pool=[f"pool-secret-{n:04d}" for n in range(6)]
        )
        self.stock = {
            "shared": Stock(shared.pk, 8, shared.price_per_unit, pool=False),
            "pool": Stock(pool.pk, 6, pool.price_per_unit, pool=True),
        }
        self.listing_ids = [stock.listing_id for stock in self.stock.values()]
        # What the machine has seen of our side.
        self.history: dict[int, list[str]] = {}  # order id -> statuses seen, in order
        self.ever_fulfilled: set[int] = set()
        self.session_of: dict[int, str] = {}  # order id -> Checkout Session id
        self.keyed: dict[int, tuple[int, str, int, str]] = {}  # buyer, listing, units, key
        # Stripe's side: events not delivered yet, delivered ones, what Stripe announced.
        self.outbox: list[Delivery] = []
        self.delivered: list[Delivery] = []
        self.accepted: set[str] = set()
        self.expiry_announced: set[str] = set()
        self.debits_processing: set[int] = set()  # orders paid by a debit not settled yet
        self.events_sent = 0
        self.seller_moves = 0

    def teardown(self) -> None:
        transaction.savepoint_rollback(self.savepoint)
        transaction.savepoint_commit(self.savepoint)

    # --- buyers -------------------------------------------------------------------------

    # Every history starts in mid-flight (these run first, in any order): an order awaiting
    # payment; one paid whose event is still on its way (the buyer may already be back on
    # our success page); one paid by a buyer who then cancelled on our site before that
    # event arrived, after which the released units may have sold or the listing paused.

    @initialize(buyer=st.integers(0, 2), listing=st.sampled_from(["shared", "pool"]))
    def a_checkout_is_open(self, buyer: int, listing: str) -> None:
        self._buy(buyer, listing, units=2, keyed=False)

    @initialize(
        buyer=st.integers(0, 2),
        listing=st.sampled_from(["shared", "pool"]),
        method=st.sampled_from(["card", "bank debit"]),
        then=st.sampled_from(["waits", "opens our success page"]),
    )
    def a_payment_is_on_its_way(self, buyer: int, listing: str, method: str, then: str) -> None:
        if order_id := self._buy(buyer, listing, units=2, keyed=False):
            self._pay(order_id, method)
            if then == "opens our success page":
                self._success_page(order_id)

    @initialize(
        buyer=st.integers(0, 2),
        listing=st.sampled_from(["shared", "pool"]),
        method=st.sampled_from(["card", "bank debit"]),
        meanwhile=st.sampled_from(["nothing", "the rest sells", "the seller pauses"]),
    )
    def a_buyer_paid_then_cancelled(
        self, buyer: int, listing: str, method: str, meanwhile: str
    ) -> None:
        if order_id := self._buy(buyer, listing, units=2, keyed=False):
            self._pay(order_id, method)
            self._cancel(order_id, by_owner=True)
        left = Listing.objects.get(pk=self.stock[listing].listing_id).available_units
        if meanwhile == "the rest sells" and left:
            self._buy((buyer + 1) % 3, listing, units=left, keyed=False)
        elif meanwhile == "the seller pauses":
            self._set_listing_status(listing, paused=True)

    @rule(
        data=st.data(),
        buyer=st.integers(0, 2),
        listing=st.sampled_from(["shared", "pool"]),
        units=st.integers(1, 3),
        key=st.sampled_from(["none", "new", "earlier"]),
        stripe=STRIPE,
    )
    def buy(
        self, data: st.DataObject, buyer: int, listing: str, units: int, key: str, stripe: str
    ) -> None:
        """Order `units`; with key "earlier", send an earlier keyed request again instead
        (when there is one): it must answer that first order and buy nothing."""
        self._stripe_is(stripe)
        if key == "earlier" and self.keyed:
            order_id = data.draw(st.sampled_from(sorted(self.keyed)), label="order")
            self._retry(order_id)
        else:
            self._buy(buyer, listing, units=units, keyed=key == "new")

    def _buy(self, buyer: int, listing: str, *, units: int, keyed: bool) -> int | None:
        """The new order's id, if one awaits payment."""
        stock = self.stock[listing]
        before = Listing.objects.get(pk=stock.listing_id)
        key = f"machine-{len(self.keyed)}" if keyed else None
        extra = {"HTTP_IDEMPOTENCY_KEY": key} if key else {}
        body = {"listing_id": stock.listing_id, "units": units}
        answer = self._api(self.buyers[buyer], "post", "/api/v1/orders", body, **extra)

        if before.status != Listing.Status.ACTIVE or before.available_units < units:
            assert answer.status == 409, answer
            return None
        if stock.price * units <= settings.SMALL_ORDER_LIMIT:
            assert answer.status == 201, answer
            assert answer.body["status"] == OrderStatus.FULFILLED
            assert answer.body["tokens_issued"] == units
        elif self.fake.down:
            assert answer.status == 503, answer  # and nothing stays reserved (invariants)
            return None
        else:
            assert answer.status == 201, answer
            assert answer.body["status"] == AWAITING
            assert answer.body["payment_requires_confirmation"] is True
            assert answer.body["tokens_issued"] == 0
            session = self.fake.session_for(answer.body["id"])
            assert answer.body["checkout_url"] == session["url"]
            assert session["amount_total"] == int(stock.price * units * 100)
            self.session_of[answer.body["id"]] = session["id"]
        if key:
            self.keyed[answer.body["id"]] = (buyer, listing, units, key)
        self._observe(self._orders())  # as created, in case this step moves it on
        return answer.body["id"] if answer.body["status"] == AWAITING else None

    def _retry(self, order_id: int) -> None:
        buyer, listing, units, key = self.keyed[order_id]
        before = self._snapshot()
        body = {"listing_id": self.stock[listing].listing_id, "units": units}
        answer = self._api(
            self.buyers[buyer], "post", "/api/v1/orders", body, HTTP_IDEMPOTENCY_KEY=key
        )
        assert answer.status == 201, answer
        assert answer.body["id"] == order_id
        assert answer.headers.get("Idempotent-Replayed") == "true"
        assert self._snapshot() == before

    @precondition(lambda self: bool(self._awaiting()))
    @rule(
        data=st.data(),
        which=st.sampled_from(["awaiting", "awaiting", "any"]),
        who=st.sampled_from(["owner", "owner", "owner", "someone else"]),
        stripe=STRIPE,
    )
    def buyer_cancels(self, data: st.DataObject, which: str, who: str, stripe: str) -> None:
        """Mostly an order awaiting payment, sometimes any order (409, or 200 if cancelled)."""
        self._stripe_is(stripe)
        candidates = self._awaiting() if which == "awaiting" else sorted(self.history)
        self._cancel(data.draw(st.sampled_from(candidates), label="order"), by_owner=who == "owner")

    def _cancel(self, order_id: int, *, by_owner: bool) -> None:
        order = Order.objects.get(pk=order_id)
        user = next(b for b in self.buyers if (b.pk == order.buyer_id) == by_owner)
        session = self._session(order_id)
        was_open = session is not None and session["status"] == "open"
        before = self._snapshot()
        answer = self._api(user, "post", f"/api/v1/orders/{order_id}/cancel")
        if not by_owner:
            assert answer.status == 404, answer
        elif order.status == AWAITING:
            assert answer.status == 200, answer
            assert answer.body["status"] == OrderStatus.CANCELLED
            if was_open and not self.fake.down:
                assert session is not None and session["status"] == "expired", (
                    "a cancelled order's session can still be paid"
                )
        elif order.status == OrderStatus.CANCELLED:
            assert answer.status == 200, answer
        else:
            assert answer.status == 409, answer
        if answer.status != 200 or order.status != AWAITING:
            assert self._snapshot() == before
        self._stripe_announces_expiries()

    @precondition(lambda self: bool(self._orders_whose_session("open")))
    @rule(
        data=st.data(),
        method=st.sampled_from(["card", "card", "bank debit", "none: leaves"]),
        then=st.sampled_from(["waits", "opens our success page", "cancels on our site"]),
        stripe=STRIPE,
    )
    def buyer_at_checkout(self, data: st.DataObject, method: str, then: str, stripe: str) -> None:
        """On Stripe's page. A card pays the session at once; a bank debit completes it
        unpaid and the money arrives (or not) later, as Stripe's async payment methods do; a
        buyer who leaves lets the session run out on Stripe. Then, before Stripe's event
        arrives, the buyer may land on our success page (which asks Stripe) or cancel the
        order on our site (paid too late: the units are released first)."""
        self._stripe_is(stripe)
        order_id = data.draw(st.sampled_from(self._orders_whose_session("open")), label="order")
        if method == "none: leaves":
            self.fake.expire_on_stripe(self.session_of[order_id])
            self._stripe_announces_expiries()
            return
        self._pay(order_id, method)
        if then == "opens our success page":
            self._success_page(order_id)
        elif then == "cancels on our site":
            self._cancel(order_id, by_owner=True)

    def _pay(self, order_id: int, method: str) -> None:
        session_id = self.session_of[order_id]
        if method == "bank debit":
            self.debits_processing.add(order_id)
            session = self.fake.pay(session_id, payment_status="unpaid")
        else:
            session = self.fake.pay(session_id)
        self._stripe_sends("checkout.session.completed", order_id, session)

    def _success_page(self, order_id: int) -> None:
        status = Order.objects.get(pk=order_id).status
        paid = self.fake.sessions[self.session_of[order_id]]["payment_status"] == "paid"
        success_url = self.fake.sessions[self.session_of[order_id]]["success_url"]
        with TestCase.captureOnCommitCallbacks(execute=True):
            response = self.stripe_client.get(urlsplit(success_url).path)
        assert response.status_code == 200
        if status == AWAITING and paid and not self.fake.down:
            status = OrderStatus.FULFILLED
        assert Order.objects.get(pk=order_id).status == status

    @precondition(lambda self: bool(self.debits_processing))
    @rule(data=st.data(), succeeded=st.booleans())
    def bank_debit_settles(self, data: st.DataObject, succeeded: bool) -> None:
        order_id = data.draw(st.sampled_from(sorted(self.debits_processing)), label="order")
        self._debit_settles(order_id, succeeded=succeeded)

    def _debit_settles(self, order_id: int, *, succeeded: bool) -> None:
        self.debits_processing.discard(order_id)
        session_id = self.session_of[order_id]
        if succeeded:
            session = self.fake.pay(session_id)
            self._stripe_sends("checkout.session.async_payment_succeeded", order_id, session)
        else:
            session = self.fake.fail_payment(session_id)
            self._stripe_sends("checkout.session.async_payment_failed", order_id, session)

    # --- Stripe's webhook deliveries ----------------------------------------------------

    @precondition(lambda self: bool(self.outbox))
    @rule(data=st.data(), stripe=STRIPE)
    def stripe_delivers(self, data: st.DataObject, stripe: str) -> None:
        """Some pending events, not necessarily the oldest, mixed with some delivered before
        (Stripe retries), in any order. Stripe's API may be down meanwhile: a refund due
        then waits for the sweeper."""
        self._stripe_is(stripe)
        indexes = st.integers(0, len(self.outbox) - 1)
        picked = data.draw(st.lists(indexes, min_size=1, max_size=3, unique=True), label="new")
        fresh = [self.outbox[index] for index in picked]
        self.outbox = [delivery for delivery in self.outbox if delivery not in fresh]
        batch = list(fresh)
        if self.delivered:
            again = st.lists(st.sampled_from(self.delivered), max_size=2)
            batch += data.draw(again, label="again")
        for delivery in data.draw(st.permutations(batch), label="arrival order"):
            self._deliver(delivery)
        self.delivered.extend(fresh)

    def _deliver(self, delivery: Delivery) -> None:
        order = Order.objects.select_related("listing").get(pk=delivery.order_id)
        outcome, status = self._expected_effect(delivery, order)
        before = self._snapshot()
        signature: dict[str, Any] = self.fake.signed(delivery.body)  # signed at each attempt
        with TestCase.captureOnCommitCallbacks(execute=True):
            response = self.stripe_client.post(
                WEBHOOK, delivery.body, content_type="application/json", **signature
            )
        assert response.status_code == 200, response.content
        assert response.json()["outcome"] == outcome, (delivery, order.status)
        self.accepted.add(delivery.event_id)
        order.refresh_from_db()
        assert order.status == status, (delivery, outcome)
        if outcome in ("duplicate", "no_change", "unpaid"):
            assert self._snapshot() == before, f"{delivery} ({outcome}) changed something"

    def _expected_effect(self, delivery: Delivery, order: Order) -> tuple[str, str]:
        """SPEC §5 and docs/decisions.md: the webhook's outcome, and the order's status."""
        if delivery.event_id in self.accepted:
            return "duplicate", order.status
        if delivery.type in StripeEvent.RELEASING_TYPES:
            if order.status == AWAITING:
                return "released", OrderStatus.EXPIRED
            return "no_change", order.status
        if delivery.payment_status not in PAID_STATUSES:
            return "unpaid", order.status
        if order.status == AWAITING:
            return "fulfilled", OrderStatus.FULFILLED
        if order.status in RELEASED:  # paid after its units went back
            listing = order.listing
            if listing.status == Listing.Status.ACTIVE and listing.available_units >= order.units:
                return "fulfilled", OrderStatus.FULFILLED
            # Refunded right after the commit; with Stripe down, by a later sweep.
            settled = OrderStatus.REFUND_PENDING if self.fake.down else OrderStatus.REFUNDED
            return "refund_pending", settled
        return "no_change", order.status

    # --- operators, sellers, cron -------------------------------------------------------

    @precondition(lambda self: bool(self._refundable()))
    @rule(data=st.data(), which=st.sampled_from(["paid", "paid", "any"]), stripe=STRIPE)
    def operator_refunds(self, data: st.DataObject, which: str, stripe: str) -> None:
        """Mostly a paid order (fulfilled or refund_pending), sometimes any order."""
        self._stripe_is(stripe)
        candidates = self._refundable() if which == "paid" else sorted(self.history)
        order_id = data.draw(st.sampled_from(candidates), label="order")
        order = Order.objects.get(pk=order_id)
        before = self._snapshot()
        answer = self._api(self.operator, "post", f"/api/v1/orders/{order_id}/refund")
        if order.status in (OrderStatus.FULFILLED, OrderStatus.REFUND_PENDING):
            if order.payment_intent_id and self.fake.down:
                assert answer.status == 503, answer
                assert self._snapshot() == before
            else:
                assert answer.status == 200, answer
                assert answer.body["status"] == OrderStatus.REFUNDED
                assert answer.body["tokens_revoked"] == answer.body["tokens_issued"]
        elif order.status == OrderStatus.REFUNDED:
            assert answer.status == 200, answer
            assert self._snapshot() == before
        else:
            assert answer.status == 409, answer
            assert self._snapshot() == before

    @precondition(lambda self: self.seller_moves < 3 and bool(self._awaiting()))
    @rule(listing=st.sampled_from(["shared", "pool"]), paused=st.booleans())
    def seller_pauses_or_resumes(self, listing: str, paused: bool) -> None:
        """While orders await payment (a payment arriving after their release cannot take
        its units back from a paused listing); a few times per history."""
        self.seller_moves += 1
        self._set_listing_status(listing, paused=paused)

    def _set_listing_status(self, listing: str, *, paused: bool) -> None:
        body = {"status": "paused" if paused else "active"}
        path = f"/api/v1/listings/{self.stock[listing].listing_id}"
        answer = self._api(self.seller, "patch", path, body)
        assert answer.status == 200, answer

    @precondition(lambda self: bool(self._awaiting() or self._refundable(pending_only=True)))
    @rule(
        data=st.data(),
        when=st.sampled_from(["a reservation ends", "all ended", "now"]),
        stripe=STRIPE,
    )
    def cron_sweeps(self, data: st.DataObject, when: str, stripe: str) -> None:
        """The sweeper with the clock at the end of one reservation (those made before it
        have ended too, later ones not), after every reservation, or now (none ended)."""
        self._stripe_is(stripe)
        if when == "all ended":
            self._sweep_after_every_reservation_ended()
        elif when == "a reservation ends" and self._awaiting():
            order_id = data.draw(st.sampled_from(self._awaiting()), label="order")
            reserved_until = Order.objects.get(pk=order_id).reserved_until
            assert reserved_until is not None
            self._sweep(reserved_until)
        else:
            self._sweep(timezone.now())

    def _sweep_after_every_reservation_ended(self) -> None:
        self._sweep(timezone.now() + timedelta(minutes=settings.RESERVATION_MINUTES + 1))

    def _sweep(self, now: datetime) -> None:
        """Run the sweeper at `now`: it settles exactly the reservations ended by then."""
        before = self._orders()
        due = {
            pk
            for pk, order in before.items()
            if order.status == AWAITING
            and order.reserved_until is not None
            and order.reserved_until <= now
        }
        paid = {pk for pk in due if (s := self._session(pk)) and s["payment_status"] == "paid"}
        with TestCase.captureOnCommitCallbacks(execute=True):
            report = reservations_sweep(now=now)
        after = self._orders()
        for pk, order in before.items():
            expected: str = order.status
            session = self._session(pk)
            if (
                order.status in RELEASED
                and session is not None
                and session["payment_status"] == "paid"
                and not self.fake.down
            ):
                # Paid after its release, the webhook not here (yet): the sweep follows the
                # session and takes the units back or refunds (issue 14, class 4).
                settled = (OrderStatus.FULFILLED, OrderStatus.REFUNDED)
                assert after[pk].status in settled, (pk, order.status, now, report)
                continue
            if pk in due:
                if self.fake.down and self.session_of.get(pk):
                    expected = AWAITING  # Stripe unreachable: left for the next sweep
                elif pk in paid:
                    expected = OrderStatus.FULFILLED  # paid, the webhook not here (yet)
                else:
                    expected = OrderStatus.EXPIRED
            elif order.status == OrderStatus.REFUND_PENDING and not self.fake.down:
                expected = OrderStatus.REFUNDED
            assert after[pk].status == expected, (pk, order.status, now, report)
        assert report.released == sum(after[pk].status == OrderStatus.EXPIRED for pk in due)
        self._stripe_announces_expiries()

    @precondition(lambda self: bool(self.outbox or self.debits_processing or self._awaiting()))
    @rule(data=st.data())
    def everything_settles(self, data: st.DataObject) -> None:
        """Stripe is up, debits settle, every event arrives (in some order), and a sweep runs
        after every reservation ended: then whoever paid has the units or a refund."""
        self._stripe_is("up")
        for order_id in sorted(self.debits_processing):
            self._debit_settles(order_id, succeeded=data.draw(st.booleans(), label="succeeded"))
        for delivery in data.draw(st.permutations(self.outbox), label="delivery order"):
            self._deliver(delivery)
            self.delivered.append(delivery)
        self.outbox.clear()
        self._sweep_after_every_reservation_ended()
        for delivery in self.outbox:  # the expiries the sweep caused
            self._deliver(delivery)
            self.delivered.append(delivery)
        self.outbox.clear()

        for order in self._orders().values():
            assert order.status not in (AWAITING, OrderStatus.REFUND_PENDING), order.status
            session = self._session(order.pk)
            if session is None:
                continue
            if session["payment_status"] == "paid":
                assert order.status in (OrderStatus.FULFILLED, OrderStatus.REFUNDED), (
                    f"order {order.pk} was paid but is {order.status}"
                )
            else:
                assert order.status in RELEASED, f"order {order.pk} unpaid but {order.status}"

    # --- after every step ---------------------------------------------------------------

    @invariant()
    def books_balance(self) -> None:
        orders = self._orders()
        self._observe(orders)
        listings = Listing.objects.in_bulk(self.listing_ids)
        tokens_of: dict[int, list[Token]] = defaultdict(list)
        for token in Token.objects.filter(order__listing_id__in=self.listing_ids):
            tokens_of[token.order_id].append(token)
        pool = dict(
            PoolSecret.objects.filter(listing_id=self.stock["pool"].listing_id).values_list(
                "secret_id", "delivered_at"
            )
        )

        # 1. Stock: sold + reserved + available = listed.
        for name, stock in self.stock.items():
            listing = listings[stock.listing_id]
            mine = [order for order in orders.values() if order.listing_id == stock.listing_id]
            sold = sum(order.units for order in mine if order.pk in self.ever_fulfilled)
            reserved = sum(order.units for order in mine if order.status == AWAITING)
            available = listing.available_units
            assert available >= 0, f"{name}: available {available}"
            assert sold + reserved + available == stock.listed, (
                f"{name}: sold {sold} + reserved {reserved} + available {available} "
                f"!= listed {stock.listed}"
            )
            assert listing.units_sold == sold, f"{name}: units_sold {listing.units_sold} != {sold}"
            issued = sum(len(tokens_of[order.pk]) for order in mine)
            assert issued == sold, f"{name}: {issued} tokens issued for {sold} units sold"
            if stock.pool:
                undelivered = sum(delivered_at is None for delivered_at in pool.values())
                assert undelivered == available + reserved, (name, undelivered)
                assert len(pool) - undelivered == sold, (name, len(pool) - undelivered)

        # 2. Tokens: no order fulfilled twice, no pool secret delivered twice.
        pool_deliveries: Counter[object] = Counter()
        for order in orders.values():
            tokens = tokens_of[order.pk]
            expected = order.units if order.pk in self.ever_fulfilled else 0
            assert len(tokens) == expected, f"order {order.pk}: {len(tokens)} tokens"
            listing = listings[order.listing_id]
            for token in tokens:
                assert token.owner_id == order.buyer_id
                assert (token.revoked_at is not None) == (order.status == OrderStatus.REFUNDED)
                if listing.delivery_mode == Listing.DeliveryMode.POOL:
                    assert token.exclusive and token.secret_id in pool
                    pool_deliveries[token.secret_id] += 1
                else:
                    assert not token.exclusive and token.secret_id == listing.shared_secret_id
        twice = [secret for secret, count in pool_deliveries.items() if count > 1]
        assert not twice, f"pool secrets delivered twice: {twice}"
        marked = {secret for secret, delivered_at in pool.items() if delivered_at is not None}
        assert marked == set(pool_deliveries), "delivered_at disagrees with the tokens"

        # 4. Money.
        refunds = Counter(refund["payment_intent"] for refund in self.fake.refunds)
        refunded_payments = set()
        for order in orders.values():
            session = self._session(order.pk)
            if order.payment_path == Order.PaymentPath.CHECKOUT and order.pk in self.ever_fulfilled:
                assert session is not None and session["payment_status"] == "paid", (
                    f"order {order.pk} fulfilled without a paid session"
                )
            if order.payment_intent_id:
                assert session is not None
                assert order.payment_intent_id == session["payment_intent"]
            if order.status == OrderStatus.REFUNDED and order.payment_intent_id:
                refunded_payments.add(order.payment_intent_id)
                assert refunds[order.payment_intent_id] == 1, f"order {order.pk}: {refunds}"
                assert order.refund_id
        assert set(refunds) <= refunded_payments, f"refunds for unrefunded orders: {refunds}"
        stored = StripeEvent.objects.filter(event_id__in=self.accepted).count()
        assert stored == len(self.accepted) == StripeEvent.objects.count()

    def _observe(self, orders: dict[int, Order]) -> None:
        """3. Status histories move along the state machine, never backwards."""
        for order in orders.values():
            seen = self.history.setdefault(order.pk, [])
            if not seen:
                first = (
                    {OrderStatus.FULFILLED}
                    if order.payment_path == Order.PaymentPath.INSTANT
                    else {AWAITING, OrderStatus.EXPIRED}  # expired: Stripe failed at creation
                )
                assert order.status in first, f"order {order.pk} created {order.status}"
                seen.append(order.status)
            elif seen[-1] != order.status:
                assert order.status in REACHABLE[seen[-1]], (
                    f"order {order.pk}: {' -> '.join(seen)} -> {order.status}"
                )
                seen.append(order.status)
            if order.status == OrderStatus.FULFILLED:
                self.ever_fulfilled.add(order.pk)
            assert (order.fulfilled_at is not None) == (order.pk in self.ever_fulfilled), (
                f"order {order.pk} ({' -> '.join(seen)}): fulfilled_at {order.fulfilled_at}"
            )

    # --- helpers ------------------------------------------------------------------------

    def _stripe_is(self, state: str) -> None:
        """Stripe's API answers (or, "down", fails every call with a 503) in this step."""
        self.fake.down = state == "down"

    def _api(
        self, user: User, method: str, path: str, body: dict[str, Any] | None = None, **extra: Any
    ) -> Answer:
        client = self.clients[user.pk]
        # No ATOMIC_REQUESTS: a request's on_commit callbacks run before it answers.
        with TestCase.captureOnCommitCallbacks(execute=True):
            if method == "patch":
                response = client.patch(path, body, format="json", **extra)
            else:
                response = client.post(path, body, format="json", **extra)
        payload = json.loads(response.content) if response.content else None
        return Answer(response.status_code, payload, dict(response.headers))

    def _orders(self) -> dict[int, Order]:
        orders = Order.objects.filter(listing_id__in=self.listing_ids).order_by("pk")
        return {order.pk: order for order in orders}

    def _snapshot(self) -> tuple[object, ...]:
        """What a buyer or seller could notice: order statuses, tokens, stock."""
        return (
            tuple(
                Order.objects.filter(listing_id__in=self.listing_ids)
                .order_by("pk")
                .values_list("pk", "status")
            ),
            tuple(
                Token.objects.filter(order__listing_id__in=self.listing_ids)
                .order_by("pk")
                .values_list("pk", "revoked_at")
            ),
            tuple(
                Listing.objects.filter(pk__in=self.listing_ids)
                .order_by("pk")
                .values_list("available_units", "units_sold", "status")
            ),
        )

    def _session(self, order_id: int) -> dict[str, Any] | None:
        session_id = self.session_of.get(order_id)
        return self.fake.sessions[session_id] if session_id else None

    def _orders_whose_session(self, status: str) -> list[int]:
        return [
            order_id
            for order_id, session_id in sorted(self.session_of.items())
            if self.fake.sessions[session_id]["status"] == status
        ]

    def _awaiting(self) -> list[int]:
        return [pk for pk, seen in sorted(self.history.items()) if seen[-1] == AWAITING]

    def _refundable(self, *, pending_only: bool = False) -> list[int]:
        """Orders last seen fulfilled or refund_pending (only the latter with `pending_only`)."""
        statuses = {OrderStatus.REFUND_PENDING}
        if not pending_only:
            statuses.add(OrderStatus.FULFILLED)
        return [pk for pk, seen in sorted(self.history.items()) if seen[-1] in statuses]

    def _stripe_sends(self, event_type: str, order_id: int, session: dict[str, Any]) -> None:
        self.events_sent += 1
        event_id = f"evt_machine_{self.events_sent:04d}"
        body = self.fake.event(event_type, session, event_id=event_id)
        self.outbox.append(
            Delivery(event_id, event_type, order_id, session["payment_status"], body)
        )

    def _stripe_announces_expiries(self) -> None:
        """Stripe sends checkout.session.expired for every session that expired, whoever
        expired it (its own clock, a buyer's cancel, the sweeper)."""
        for order_id, session_id in sorted(self.session_of.items()):
            session = self.fake.sessions[session_id]
            if session["status"] == "expired" and session_id not in self.expiry_announced:
                self.expiry_announced.add(session_id)
                self._stripe_sends("checkout.session.expired", order_id, dict(session))


@pytest.mark.django_db
def test_random_payment_histories_keep_the_books_balanced(fake_stripe: FakeStripe) -> None:
    clients = [APIClient() for _ in range(6)]
    run_state_machine_as_test(
        # A factory, as Hypothesis documents; its annotation only names classes.
        lambda: PaymentMachine(fake_stripe, clients),  # type: ignore[arg-type]
        settings=MACHINE_SETTINGS,
    )

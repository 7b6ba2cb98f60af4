"""SPEC §14: a buyer hears of an order by mail when it is fulfilled (a receipt), expires
unpaid and is refunded. The mail is a job of the transaction that moves the order; it names
the order, units and amounts and links to the tokens page, never a secret."""

import re
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.core import mail
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import User
from orders.models import Order, OrderStatus
from orders.refunds import order_refund
from orders.reservations import reservations_sweep
from tests.factories import UserFactory, make_listing
from tests.mail_sink import MailSink, text_of
from tests.workers import queued_jobs, run_queued_jobs, running_worker, wait_until

SECRET = "vault-secret-never-mailed-42"


def _buy(client: APIClient, listing_id: int, units: int) -> Any:
    return client.post("/api/v1/orders", {"listing_id": listing_id, "units": units}, format="json")


@pytest.mark.django_db
def test_an_instant_purchase_mails_a_receipt_without_the_secret(
    buyer: User, client_for: Callable[[User], APIClient]
) -> None:
    listing = make_listing(seller=UserFactory.create(), units=5, price="0.50", secret=SECRET)

    order = _buy(client_for(buyer), listing.pk, 2).json()
    assert queued_jobs() == [("orders.mails.order_mail", [order["id"], "fulfilled"], 1)]
    run_queued_jobs()

    [receipt] = mail.outbox
    assert receipt.to == [buyer.email]
    assert f"order {order['id']}" in receipt.subject
    [(html, _)] = receipt.alternatives  # type: ignore[attr-defined]  # EmailMultiAlternatives
    for body in (receipt.body, html):
        assert SECRET not in body
        assert "1.00 USD" in body and "/tokens" in body


@pytest.mark.django_db
def test_a_refused_purchase_mails_nothing(
    buyer: User, client_for: Callable[[User], APIClient]
) -> None:
    listing = make_listing(seller=UserFactory.create(), units=1, price="0.50")

    assert _buy(client_for(buyer), listing.pk, 2).status_code == 409

    assert queued_jobs() == []


@pytest.mark.django_db
def test_an_unpaid_reservation_that_expires_is_mailed(buyer: User) -> None:
    listing = make_listing(seller=UserFactory.create(), units=5, price="9.00")
    Order.objects.create(
        buyer=buyer,
        listing=listing,
        units=1,
        unit_price=listing.price_per_unit,
        total_price=listing.price_per_unit,
        currency=listing.currency,
        status=OrderStatus.AWAITING_PAYMENT,
        payment_path=Order.PaymentPath.CHECKOUT,
        reserved_until=timezone.now() - timedelta(minutes=1),
    )

    assert reservations_sweep().released == 1
    run_queued_jobs()

    [notice] = mail.outbox
    assert notice.to == [buyer.email]
    assert "not paid" in notice.subject and "Nothing was charged" in notice.body


@pytest.mark.django_db
def test_a_refund_is_mailed(buyer: User, client_for: Callable[[User], APIClient]) -> None:
    listing = make_listing(seller=UserFactory.create(), units=5, price="0.50")
    order_id = _buy(client_for(buyer), listing.pk, 1).json()["id"]
    run_queued_jobs()

    order_refund(order_id=order_id, actor=UserFactory.create(is_staff=True))
    run_queued_jobs()

    assert [message.subject for message in mail.outbox][1] == f"Order {order_id} was refunded"
    assert "tokens were revoked" in mail.outbox[1].body


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("require_postgres")
def test_a_worker_sends_the_receipt_over_smtp(
    mail_sink: MailSink,
    tmp_path: Path,
    buyer: User,
    client_for: Callable[[User], APIClient],
) -> None:
    listing = make_listing(seller=UserFactory.create(), units=5, price="0.50", secret=SECRET)
    order_id = _buy(client_for(buyer), listing.pk, 1).json()["id"]

    with running_worker(tmp_path / "worker.log", EMAIL_URL=mail_sink.url):
        wait_until(lambda: bool(mail_sink.messages), timeout=30, what="the receipt")

    [receipt] = mail_sink.messages
    assert receipt["To"] == buyer.email
    assert re.search(rf"\border {order_id}\b", receipt["Subject"])
    assert SECRET not in text_of(receipt, "plain") + text_of(receipt, "html")

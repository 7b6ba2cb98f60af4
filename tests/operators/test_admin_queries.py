"""Admin list pages cost the same number of queries for 1 row as for 200 (issue 5)."""

import uuid
from collections.abc import Callable

import pytest
from django.test import Client

from accounts.models import User
from audit.models import AuditAction, AuditEntry
from orders.models import Order, StripeEvent
from orders.services import order_create
from tests.factories import UserFactory, bearer_token, make_listing
from tests.operators.conftest import AdminFor
from tests.pages import queries_for

pytestmark = pytest.mark.django_db

MANY = 200
PER_PAGE = 100  # the admin's default page size


def _listings(n: int) -> None:
    seller = UserFactory.create()
    for i in range(n):
        make_listing(seller=seller if i % 2 else None, service_name=f"API {i}")


def _orders(n: int) -> None:
    listing = make_listing(units=n, price="0.01")
    for _ in range(n):
        order_create(buyer=UserFactory.create(), listing_id=listing.pk, units=1)


def _tokens(n: int) -> None:
    listing = make_listing(pool=[f"pool-secret-{i:04d}" for i in range(n)], price="0.01")
    order_create(buyer=UserFactory.create(), listing_id=listing.pk, units=n)


def _users(n: int) -> None:
    for user in UserFactory.create_batch(n):
        bearer_token(user)


def _events(n: int, order: Order | None = None) -> None:
    if order is None:
        order = order_create(
            buyer=UserFactory.create(), listing_id=make_listing().pk, units=1
        ).order
    StripeEvent.objects.bulk_create(
        StripeEvent(
            event_id=f"evt_{uuid.uuid4().hex}",
            type="checkout.session.expired",
            order=order,
            outcome="no_change",
        )
        for _ in range(n)
    )


def _entries(n: int) -> None:
    actor = UserFactory.create()
    AuditEntry.objects.bulk_create(
        AuditEntry(
            actor=actor, action=AuditAction.TOKEN_REVEAL, target_type="token", target_id=str(i)
        )
        for i in range(n)
    )


PAGES: dict[str, Callable[[int], None]] = {
    "/admin/listings/listing/": _listings,
    "/admin/orders/order/": _orders,
    "/admin/tokens_vault/token/": _tokens,
    "/admin/accounts/user/": _users,
    "/admin/orders/stripeevent/": _events,
    "/admin/audit/auditentry/": _entries,
}


def _rows_shown(client: Client, url: str) -> int:
    return client.get(url).content.decode().count('<th class="field-')


@pytest.mark.parametrize("url", PAGES)
def test_a_list_page_makes_as_many_queries_for_200_rows_as_for_1(
    url: str, admin_for: AdminFor, moderator: User
) -> None:
    client = admin_for(moderator)
    PAGES[url](1)
    few = queries_for(client, url)

    PAGES[url](MANY - 1)

    many = queries_for(client, url)
    assert many == few, f"{url}: {few} queries for 1 row, {many} for {MANY}"
    assert _rows_shown(client, url) == PER_PAGE  # the rows were really rendered


def test_an_order_page_makes_as_many_queries_for_200_webhook_events_as_for_1(
    admin_for: AdminFor, moderator: User
) -> None:
    client = admin_for(moderator)
    _events(1)
    order = Order.objects.get()
    url = f"/admin/orders/order/{order.pk}/change/"
    queries_for(client, url)  # warm Django's content-type cache first
    few = queries_for(client, url)

    _events(MANY - 1, order)

    assert queries_for(client, url) == few

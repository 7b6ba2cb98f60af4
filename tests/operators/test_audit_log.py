"""The audit log: append-only in the database, and written by every act it must record,
whichever door the act came through (admin, API, pages, the system itself)."""

from collections.abc import Callable

import pytest
from django.contrib.auth.models import Group, Permission
from django.db import DatabaseError, transaction
from rest_framework.test import APIClient

from accounts.models import User
from audit.models import AuditAction, AuditEntry
from audit.services import RequestOrigin, audit_record_each
from orders.refunds import order_refund
from orders.services import order_create
from tests.factories import UserFactory, make_listing
from tests.operators.conftest import OPERATOR_IP, AdminFor

pytestmark = pytest.mark.django_db

ClientFor = Callable[[User], APIClient]


def _an_entry() -> AuditEntry:
    return AuditEntry.objects.create(
        action=AuditAction.LISTING_SUSPEND, target_type="listing", target_id="1", summary="kept"
    )


def test_an_entry_cannot_be_rewritten() -> None:
    entry = _an_entry()

    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AuditEntry.objects.filter(pk=entry.pk).update(summary="rewritten")

    assert AuditEntry.objects.get(pk=entry.pk).summary == "kept"


def test_an_entry_cannot_be_deleted(require_postgres: None) -> None:
    entry = _an_entry()

    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AuditEntry.objects.filter(pk=entry.pk).delete()

    assert AuditEntry.objects.filter(pk=entry.pk).exists()


def test_a_refund_through_the_api_is_audited_with_its_origin(
    client_for: ClientFor, buyer: User
) -> None:
    order = order_create(buyer=buyer, listing_id=make_listing(price="1.50").pk, units=2).order
    operator = UserFactory.create(is_staff=True)
    api = client_for(operator)

    response = api.post(f"/api/v1/orders/{order.pk}/refund", REMOTE_ADDR=OPERATOR_IP)

    assert response.status_code == 200
    [entry] = AuditEntry.objects.filter(action=AuditAction.ORDER_REFUND)
    assert (entry.actor_id, entry.target_id, entry.ip) == (operator.pk, str(order.pk), OPERATOR_IP)
    assert entry.summary == "Refunded 3.00 USD; 2 tokens revoked"
    assert api.post(f"/api/v1/orders/{order.pk}/refund").status_code == 200
    assert AuditEntry.objects.filter(action=AuditAction.ORDER_REFUND).count() == 1


def test_a_refund_the_system_makes_is_audited_without_an_actor(buyer: User) -> None:
    order = order_create(buyer=buyer, listing_id=make_listing().pk, units=1).order

    order_refund(order_id=order.pk, actor=None)

    [entry] = AuditEntry.objects.filter(action=AuditAction.ORDER_REFUND)
    assert (entry.actor_id, entry.ip) == (None, None)


def test_a_sellers_revoke_is_audited_once(client_for: ClientFor, buyer: User, seller: User) -> None:
    order_create(buyer=buyer, listing_id=make_listing(seller=seller).pk, units=1)
    [token] = buyer.tokens.all()
    api = client_for(seller)

    for _ in range(2):
        assert api.post(f"/api/v1/tokens/{token.pk}/revoke").status_code == 200

    [entry] = AuditEntry.objects.filter(action=AuditAction.TOKEN_REVOKE)
    assert (entry.actor_id, entry.target_type, entry.target_id) == (
        seller.pk,
        "token",
        str(token.pk),
    )


def test_editing_a_group_in_the_admin_is_audited(admin_for: AdminFor, superuser: User) -> None:
    group = Group.objects.create(name="support")
    permission = Permission.objects.get(codename="view_order")

    response = admin_for(superuser).post(
        f"/admin/auth/group/{group.pk}/change/",
        {"name": "support", "permissions": [permission.pk]},
    )

    assert response.status_code == 302
    [entry] = AuditEntry.objects.filter(action=AuditAction.ADMIN_CHANGE)
    assert (entry.actor_id, entry.target_type, entry.target_id) == (
        superuser.pk,
        "group",
        str(group.pk),
    )
    assert entry.ip == OPERATOR_IP


def test_the_log_lists_entries_filtered_by_action(admin_for: AdminFor, moderator: User) -> None:
    AuditEntry.objects.create(
        action=AuditAction.LISTING_SUSPEND, target_type="listing", target_id="77", summary="x"
    )

    page = admin_for(moderator).get("/admin/audit/auditentry/?action=listing.suspend")

    text = page.content.decode()
    assert page.status_code == 200
    assert "77" in text
    assert "Made moderator" not in text.split('id="result_list"')[1]


def test_a_page_of_reveals_is_one_entry_per_token_with_who_and_from_where(buyer: User) -> None:
    """audit_record_each writes one statement on PostgreSQL and bulk_create elsewhere; both
    must record the same entries."""
    tokens = order_create(buyer=buyer, listing_id=make_listing().pk, units=3).order.tokens.all()
    origin = RequestOrigin(ip="203.0.113.9", user_agent="agent/" + "x" * 300)

    audit_record_each(
        actor=buyer, action=AuditAction.TOKEN_REVEAL, targets=list(tokens), origin=origin
    )
    audit_record_each(actor=buyer, action=AuditAction.TOKEN_REVEAL, targets=[], origin=origin)

    entries = list(AuditEntry.objects.filter(action=AuditAction.TOKEN_REVEAL).order_by("pk"))
    assert [(e.target_type, e.target_id) for e in entries] == [("token", str(t.pk)) for t in tokens]
    assert {(e.actor_id, e.ip, e.user_agent, e.summary) for e in entries} == {
        (buyer.pk, "203.0.113.9", origin.user_agent[:200], "")
    }
    assert all(e.created_at is not None for e in entries)

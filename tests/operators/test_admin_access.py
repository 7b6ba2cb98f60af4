"""Who may do what in the admin: members never get in; moderators see and moderate but
cannot delete users, edit rows around the services, or see a secret; no one sees one."""

import pytest
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.test import Client

from accounts.models import User
from accounts.moderation import MODERATOR_GROUP
from audit.models import AuditEntry
from orders.services import order_create
from tests.factories import UserFactory, make_listing
from tests.operators.conftest import AdminFor, run_action
from tokens_vault.models import Token

pytestmark = pytest.mark.django_db

SHARED_SECRET = "shared-credential-TAIL"
POOL_SECRETS = ["pool-credential-A1B2", "pool-credential-C3D4"]
MODERATION_PAGES = [
    "/admin/listings/listing/",
    "/admin/orders/order/",
    "/admin/orders/stripeevent/",
    "/admin/tokens_vault/token/",
    "/admin/accounts/user/",
    "/admin/audit/auditentry/",
]


@pytest.mark.parametrize("path", ["/admin/", *MODERATION_PAGES])
def test_members_and_strangers_are_sent_to_the_admin_login(path: str, buyer: User) -> None:
    member = Client()
    member.force_login(buyer)

    for client in (Client(), member):
        response = client.get(path)
        assert response.status_code == 302
        assert response["Location"].startswith("/admin/login/")


@pytest.mark.parametrize("path", MODERATION_PAGES)
def test_a_moderator_opens_every_moderation_page(
    path: str, admin_for: AdminFor, moderator: User
) -> None:
    assert admin_for(moderator).get(path).status_code == 200


def test_staff_outside_the_moderator_group_see_nothing(admin_for: AdminFor) -> None:
    bare_staff = admin_for(UserFactory.create(is_staff=True))

    assert "permission to view or edit anything" in bare_staff.get("/admin/").content.decode()
    assert bare_staff.get("/admin/listings/listing/").status_code == 403


def test_the_moderator_group_holds_exactly_the_moderation_permissions() -> None:
    codenames = set(
        Group.objects.get(name=MODERATOR_GROUP).permissions.values_list("codename", flat=True)
    )

    assert codenames == {
        "view_user", "deactivate_user", "view_apisession", "view_listing", "moderate_listing",
        "view_order", "refund_order", "view_stripeevent", "view_token", "revoke_token",
        "view_auditentry",
    }  # fmt: skip


def test_no_one_deletes_users_in_the_admin(
    admin_for: AdminFor, moderator: User, superuser: User, buyer: User
) -> None:
    for operator in (admin_for(moderator), admin_for(superuser)):
        assert operator.get(f"/admin/accounts/user/{buyer.pk}/delete/").status_code == 403
        assert (
            operator.post(f"/admin/accounts/user/{buyer.pk}/delete/", {"post": "yes"}).status_code
            == 403
        )
        run_action(operator, "/admin/accounts/user/", "delete_selected", [buyer.pk])
        assert User.objects.filter(pk=buyer.pk, is_active=True).exists()


def test_a_moderator_cannot_edit_a_user_around_the_services(
    admin_for: AdminFor, moderator: User, buyer: User
) -> None:
    operator = admin_for(moderator)

    response = operator.post(
        f"/admin/accounts/user/{buyer.pk}/change/",
        {"email": buyer.email, "is_staff": "on", "is_superuser": "on", "is_active": "on"},
    )

    assert response.status_code == 403
    buyer.refresh_from_db()
    assert not (buyer.is_staff or buyer.is_superuser)
    run_action(operator, "/admin/accounts/user/", "make_moderator", [buyer.pk])
    buyer.refresh_from_db()
    assert not buyer.is_staff  # only a superuser makes moderators


def test_no_one_adds_changes_or_deletes_audit_entries(
    admin_for: AdminFor, superuser: User, moderator: User
) -> None:
    entry = AuditEntry.objects.get()  # the moderator's appointment
    for operator in (admin_for(moderator), admin_for(superuser)):
        assert operator.get("/admin/audit/auditentry/add/").status_code == 403
        change = operator.post(
            f"/admin/audit/auditentry/{entry.pk}/change/", {"summary": "rewritten"}
        )
        assert change.status_code == 403
        assert operator.post(f"/admin/audit/auditentry/{entry.pk}/delete/").status_code == 403
    assert AuditEntry.objects.get().summary == entry.summary


def test_tokens_show_only_the_last_four_characters_of_their_secret(
    admin_for: AdminFor, moderator: User, superuser: User, buyer: User
) -> None:
    shared = make_listing(secret=SHARED_SECRET, price="0.50")
    pool = make_listing(pool=POOL_SECRETS, price="0.50")
    order_create(buyer=buyer, listing_id=shared.pk, units=1)
    order_create(buyer=buyer, listing_id=pool.pk, units=2)
    pages = []
    for operator in (admin_for(moderator), admin_for(superuser)):
        pages.append(operator.get("/admin/tokens_vault/token/").content.decode())
        pages += [
            operator.get(f"/admin/tokens_vault/token/{token.pk}/change/").content.decode()
            for token in Token.objects.all()
        ]
        pages += [
            operator.get(f"/admin/listings/listing/{listing.pk}/change/").content.decode()
            for listing in (shared, pool)
        ]

    assert "••••TAIL" in pages[0]
    assert "••••A1B2" in pages[0] or "••••C3D4" in pages[0]
    for page in pages:
        for secret in (SHARED_SECRET, *POOL_SECRETS):
            assert secret not in page


def test_createsuperuser_works_with_the_email_login(capsys: pytest.CaptureFixture[str]) -> None:
    call_command("createsuperuser", "--noinput", "--email", "Root@Example.TEST", verbosity=0)

    root = User.objects.get(email="root@example.test")
    assert root.is_superuser and root.is_staff
    assert not root.has_usable_password()  # set one with `manage.py changepassword`

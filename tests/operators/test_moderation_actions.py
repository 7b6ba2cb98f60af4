"""SPEC §9 and issue 5: each operator action, posted through the admin's own forms, has its
effect and writes its audit entry (who, what, when, from where)."""

from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client
from rest_framework.test import APIClient

from accounts.models import ApiSession, User
from audit.models import AuditAction, AuditEntry
from listings.models import Listing
from orders.models import Order, OrderStatus
from orders.services import order_create
from tests.factories import PASSWORD, UserFactory, bearer_token, make_listing
from tests.operators.conftest import OPERATOR_AGENT, OPERATOR_IP, AdminFor, run_action
from tests.orders.helpers import checkout_order
from tests.stripe_fake import FakeStripe
from tokens_vault.models import Token

pytestmark = pytest.mark.django_db

LISTINGS = "/admin/listings/listing/"
ORDERS = "/admin/orders/order/"
TOKENS = "/admin/tokens_vault/token/"
USERS = "/admin/accounts/user/"
SECRET = "wx-shared-credential-Zq81"

ClientFor = Callable[[User], APIClient]


def _entries(action: AuditAction) -> list[AuditEntry]:
    return list(AuditEntry.objects.filter(action=action).order_by("pk"))


def _assert_from_operator(entry: AuditEntry, operator: User) -> None:
    assert (entry.actor_id, entry.ip, entry.user_agent) == (
        operator.pk,
        OPERATOR_IP,
        OPERATOR_AGENT,
    )


def _buy(client: APIClient, listing: Listing, units: int = 1) -> Any:
    return client.post("/api/v1/orders", {"listing_id": listing.pk, "units": units}, format="json")


# --- Listings -----------------------------------------------------------------------------


def test_suspending_in_bulk_hides_listings_and_refuses_orders(
    admin_for: AdminFor, moderator: User, client_for: ClientFor, buyer: User
) -> None:
    first, second = make_listing(service_name="Alpha API"), make_listing(service_name="Beta API")

    page = run_action(admin_for(moderator), LISTINGS, "suspend", [first.pk, second.pk])

    assert "Suspended: 2 listings." in page
    assert set(Listing.objects.values_list("status", flat=True)) == {"suspended"}
    entries = _entries(AuditAction.LISTING_SUSPEND)
    assert sorted(e.target_id for e in entries) == sorted([str(first.pk), str(second.pk)])
    for entry in entries:
        _assert_from_operator(entry, moderator)
    assert "active → suspended" in entries[0].summary
    api = client_for(buyer)
    refused = _buy(api, first)
    assert refused.status_code == 409
    assert refused.json()["code"] == "listing_unavailable"
    assert api.get("/api/v1/listings").json()["count"] == 0
    assert "Alpha API" not in Client().get("/listings").content.decode()
    assert Client().get(f"/listings/{first.pk}").status_code == 404


def test_tokens_of_a_suspended_listing_reveal_until_revoked(
    admin_for: AdminFor, moderator: User, client_for: ClientFor, buyer: User
) -> None:
    listing = make_listing(secret=SECRET)
    api = client_for(buyer)
    assert _buy(api, listing, units=2).status_code == 201
    operator = admin_for(moderator)
    run_action(operator, LISTINGS, "suspend", [listing.pk])

    assert [t["secret"] for t in api.get("/api/v1/tokens").json()["results"]] == [SECRET] * 2

    first, second = Token.objects.order_by("pk")
    page = run_action(operator, TOKENS, "revoke", [first.pk])

    assert "Revoked: 1 token." in page
    shown = {t["id"]: t["secret"] for t in api.get("/api/v1/tokens").json()["results"]}
    assert shown == {first.pk: None, second.pk: SECRET}
    [entry] = _entries(AuditAction.TOKEN_REVOKE)
    assert entry.target_id == str(first.pk)
    _assert_from_operator(entry, moderator)


def test_unsuspend_says_which_were_already_active(admin_for: AdminFor, moderator: User) -> None:
    suspended, active = make_listing(), make_listing()
    operator = admin_for(moderator)
    run_action(operator, LISTINGS, "suspend", [suspended.pk])

    page = run_action(operator, LISTINGS, "unsuspend", [suspended.pk, active.pk])

    assert "Unsuspended: 1 listing." in page
    assert "Already unsuspended: 1 listing; nothing changed." in page
    suspended.refresh_from_db()
    assert suspended.status == "active"
    assert [e.target_id for e in _entries(AuditAction.LISTING_UNSUSPEND)] == [str(suspended.pk)]


def test_approving_pre_reviewed_listings_puts_them_on_sale(
    admin_for: AdminFor, moderator: User, client_for: ClientFor, buyer: User, settings: Any
) -> None:
    settings.LISTING_REVIEW = "pre"
    pending, other = make_listing(service_name="Pending API"), make_listing()
    assert pending.status == "pending_review"
    api = client_for(buyer)
    assert _buy(api, pending).status_code == 409
    operator = admin_for(moderator)
    run_action(operator, LISTINGS, "suspend", [other.pk])

    page = run_action(operator, LISTINGS, "approve", [pending.pk, other.pk])

    assert "Approved: 1 listing." in page
    assert f"Listing {other.pk} is suspended, so it cannot be approved." in page
    assert [e.target_id for e in _entries(AuditAction.LISTING_APPROVE)] == [str(pending.pk)]
    assert [r["service_name"] for r in api.get("/api/v1/listings").json()["results"]] == [
        "Pending API"
    ]
    assert _buy(api, pending).status_code == 201


def test_a_seller_cannot_lift_a_suspension(
    admin_for: AdminFor, moderator: User, client_for: ClientFor, seller: User
) -> None:
    listing = make_listing(seller=seller)
    run_action(admin_for(moderator), LISTINGS, "suspend", [listing.pk])

    response = client_for(seller).patch(
        f"/api/v1/listings/{listing.pk}", {"status": "active"}, format="json"
    )

    assert response.status_code == 409
    listing.refresh_from_db()
    assert listing.status == "suspended"


# --- Orders -------------------------------------------------------------------------------


@pytest.fixture
def buyer_api(client_for: ClientFor, buyer: User) -> APIClient:
    return client_for(buyer)


@pytest.fixture
def checkout(fake_stripe: FakeStripe, buyer_api: APIClient) -> dict[str, Any]:
    """An order of 3 units at 4.00 awaiting payment on (fake) Stripe Checkout."""
    return checkout_order(buyer_api, make_listing(units=10, price="4.00"), 3)


def _pay(fake_stripe: FakeStripe, order: dict[str, Any]) -> str:
    """Pay the order's session and deliver the signed webhook; the session id."""
    session_id: str = fake_stripe.session_for(order["id"])["id"]
    response = fake_stripe.deliver("checkout.session.completed", fake_stripe.pay(session_id))
    assert response.status_code == 200
    return session_id


def test_refund_goes_through_stripe_revokes_tokens_and_is_audited(
    admin_for: AdminFor,
    moderator: User,
    fake_stripe: FakeStripe,
    checkout: dict[str, Any],
    buyer_api: APIClient,
) -> None:
    _pay(fake_stripe, checkout)

    page = run_action(admin_for(moderator), ORDERS, "refund", [checkout["id"]])

    assert "Refunded: 1 order." in page
    assert Order.objects.get(pk=checkout["id"]).status == OrderStatus.REFUNDED
    [refund] = fake_stripe.refunds
    assert refund["metadata"]["order_id"] == str(checkout["id"])
    assert {t["status"] for t in buyer_api.get("/api/v1/tokens").json()["results"]} == {"revoked"}
    [entry] = _entries(AuditAction.ORDER_REFUND)
    _assert_from_operator(entry, moderator)
    assert entry.summary == "Refunded 12.00 USD on Stripe; 3 tokens revoked"


def test_refund_of_an_unpaid_order_is_refused_with_the_reason(
    admin_for: AdminFor, moderator: User, fake_stripe: FakeStripe, checkout: dict[str, Any]
) -> None:
    page = run_action(admin_for(moderator), ORDERS, "refund", [checkout["id"]])

    assert "Not refunded: 1 order." in page
    assert "Only paid orders can be refunded; this one is awaiting_payment." in page
    assert Order.objects.get(pk=checkout["id"]).status == OrderStatus.AWAITING_PAYMENT
    assert not fake_stripe.refunds
    assert not _entries(AuditAction.ORDER_REFUND)


def test_order_page_shows_reservation_session_and_webhook_events(
    admin_for: AdminFor, moderator: User, fake_stripe: FakeStripe, checkout: dict[str, Any]
) -> None:
    session_id = _pay(fake_stripe, checkout)

    response = admin_for(moderator).get(f"{ORDERS}{checkout['id']}/change/")

    page = response.content.decode()
    assert response.status_code == 200
    assert session_id in page
    assert "Reserved until" in page
    assert "checkout.session.completed" in page
    assert "fulfilled" in page


# --- Users --------------------------------------------------------------------------------


def test_deactivating_ends_every_session_at_once(
    admin_for: AdminFor, moderator: User, buyer: User
) -> None:
    tokens = [bearer_token(buyer) for _ in range(2)]
    browser = Client()
    assert browser.post("/login", {"email": buyer.email, "password": PASSWORD}).status_code == 302
    assert browser.get("/account").status_code == 200

    page = run_action(admin_for(moderator), USERS, "deactivate", [buyer.pk])

    assert "Deactivated: 1 user." in page
    for token in tokens:
        me = APIClient(HTTP_AUTHORIZATION=f"Bearer {token}").get("/api/v1/auth/me")
        assert me.status_code == 401
    assert browser.get("/account").status_code == 302  # signed out, sent to log in
    assert not ApiSession.objects.filter(user=buyer, revoked_at=None).exists()
    [entry] = _entries(AuditAction.USER_DEACTIVATE)
    _assert_from_operator(entry, moderator)
    assert entry.summary == f"Deactivated user {buyer.pk}; 3 sessions ended"
    login = APIClient().post(
        "/api/v1/auth/login", {"email": buyer.email, "password": PASSWORD}, format="json"
    )
    assert login.status_code == 401


def test_reactivated_users_log_in_again_but_old_sessions_stay_ended(
    admin_for: AdminFor, moderator: User, buyer: User
) -> None:
    token = bearer_token(buyer)
    operator = admin_for(moderator)
    run_action(operator, USERS, "deactivate", [buyer.pk])

    page = run_action(operator, USERS, "reactivate", [buyer.pk])

    assert "Reactivated: 1 user." in page
    assert APIClient(HTTP_AUTHORIZATION=f"Bearer {token}").get("/api/v1/auth/me").status_code == 401
    login = APIClient().post(
        "/api/v1/auth/login", {"email": buyer.email, "password": PASSWORD}, format="json"
    )
    assert login.status_code == 200
    assert len(_entries(AuditAction.USER_REACTIVATE)) == 1


def test_a_moderator_cannot_deactivate_operators_or_themselves(
    admin_for: AdminFor, moderator: User, superuser: User
) -> None:
    other_operator = UserFactory.create(is_staff=True)

    page = run_action(
        admin_for(moderator), USERS, "deactivate", [moderator.pk, other_operator.pk, superuser.pk]
    )

    assert "Not deactivated: 3 users." in page
    assert "You cannot do this to your own account." in page
    assert "Only a superuser can do this to an operator's account." in page
    assert User.objects.filter(is_active=True).count() == 3
    assert not _entries(AuditAction.USER_DEACTIVATE)


def test_a_superuser_makes_and_unmakes_moderators(
    admin_for: AdminFor, superuser: User, buyer: User
) -> None:
    operator = admin_for(superuser)

    page = run_action(operator, USERS, "make_moderator", [buyer.pk])

    assert "Made moderators: 1 user." in page
    assert admin_for(User.objects.get(pk=buyer.pk)).get(LISTINGS).status_code == 200
    run_action(operator, USERS, "remove_moderator", [buyer.pk])
    buyer.refresh_from_db()
    assert not buyer.is_staff
    assert not buyer.groups.exists()
    assert admin_for(buyer).get(LISTINGS).status_code == 302
    assert [e.action for e in AuditEntry.objects.filter(target_id=str(buyer.pk))] == [
        AuditAction.USER_MODERATOR_GRANT,
        AuditAction.USER_MODERATOR_REMOVE,
    ]


def test_the_listing_list_filters_searches_and_shows_units_and_sales(
    admin_for: AdminFor, moderator: User, buyer: User
) -> None:
    seller = UserFactory.create(email="atlas@example.test")
    kept = make_listing(seller=seller, units=9, service_name="Atlas Geocoding")
    order_create(buyer=buyer, listing_id=kept.pk, units=2)
    other = make_listing(service_name="Open Skies")
    operator = admin_for(moderator)
    run_action(operator, LISTINGS, "suspend", [other.pk])

    def rows(query: str) -> str:
        page = operator.get(f"{LISTINGS}?{query}").content.decode()
        return page.partition('id="result_list"')[2]  # empty when nothing matches

    active = rows("status__exact=active")
    assert "Atlas Geocoding" in active and "Open Skies" not in active
    assert "Open Skies" in rows("status__exact=suspended")
    for query in (f"seller__id__exact={seller.pk}", "q=atlas%40example"):
        found = rows(query)
        assert "Atlas Geocoding" in found and "Open Skies" not in found, query
    assert "Atlas Geocoding" in rows("delivery_mode__exact=shared")
    assert "Atlas Geocoding" not in rows("delivery_mode__exact=pool")
    assert 'class="field-available_units">7<' in active
    assert 'class="field-units_sold">2<' in active

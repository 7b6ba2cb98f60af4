"""Accounts and API sessions (SPEC §2 Accounts and sessions, §7 auth resources).

Registration validates and stores emails lower-cased with Argon2 passwords; Bearer session
tokens are shown once, stored only as SHA-256, expire, and are revoked by logout, by the
session list, by a password change and by deactivation; they are read from the
`Authorization` header only. Cookie-authenticated API writes keep CSRF protection.
"""

import hashlib
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest
from django.conf import settings
from django.test import override_settings
from django.utils import timezone
from django.utils.crypto import get_random_string
from rest_framework.test import APIClient

from accounts.models import ApiSession, User
from accounts.moderation import user_set_active
from accounts.services import REGISTRATION_ACCEPTED
from tests.factories import PASSWORD, UserFactory, bearer_token, make_listing

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "a-different-long-passphrase"


def _register(api: APIClient, email: str | None, password: str = NEW_PASSWORD) -> Any:
    return api.post("/api/v1/auth/register", {"email": email, "password": password}, format="json")


def _login(api: APIClient, email: str, password: str = PASSWORD) -> dict[str, Any]:
    response = api.post("/api/v1/auth/login", {"email": email, "password": password}, format="json")
    assert response.status_code == 200, response.content
    body: dict[str, Any] = response.json()
    return body


def _bearer(token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


def _me_status(token: str) -> int:
    return _bearer(token).get("/api/v1/auth/me").status_code


# --- Registration -------------------------------------------------------------------------


def test_register_stores_a_lower_cased_email_and_an_argon2_hash(api: APIClient) -> None:
    response = _register(api, "Mixed.Case@Example.TEST")

    assert response.status_code == 202, response.content
    assert response.json() == {"detail": REGISTRATION_ACCEPTED}  # no user fields: issue 14
    user = User.objects.get()
    assert user.email == "mixed.case@example.test"
    assert user.password.startswith("argon2")
    assert NEW_PASSWORD not in user.password
    assert NEW_PASSWORD not in response.content.decode()
    assert user.check_password(NEW_PASSWORD)


def test_register_with_a_taken_email_in_another_case_changes_nothing(
    api: APIClient, buyer: User
) -> None:
    """Formerly a 400 naming the email, which told anyone who has an account; now the same
    answer as for a free address (tests/accounts/test_registration_privacy.py), and the
    account keeps its password."""
    response = _register(api, buyer.email.upper())

    assert response.status_code == 202, response.content
    assert response.json() == {"detail": REGISTRATION_ACCEPTED}
    assert User.objects.count() == 1
    buyer.refresh_from_db()
    assert buyer.check_password(PASSWORD)
    assert not buyer.check_password(NEW_PASSWORD)


@pytest.mark.parametrize(
    "password",
    ["short", "password123", "12345678901234", "example.test-user"],
    ids=["too-short", "common", "numeric", "like-the-email"],
)
def test_register_refuses_weak_passwords(api: APIClient, db: None, password: str) -> None:
    response = _register(api, "new-user@example.test", password)

    assert response.status_code == 400, response.content
    assert list(response.json()) == ["password"]
    assert not User.objects.exists()


@pytest.mark.parametrize(
    "email",
    ["not-an-email", "two@@example.test", "", "a" * 250 + "@example.test", None],
    ids=["no-at", "double-at", "empty", "too-long", "null"],
)
def test_register_refuses_invalid_emails(api: APIClient, db: None, email: str | None) -> None:
    response = _register(api, email)

    assert response.status_code == 400, response.content
    assert list(response.json()) == ["email"]
    assert not User.objects.exists()


# --- Login and the session token ----------------------------------------------------------


def test_login_issues_a_token_stored_only_as_its_sha256(api: APIClient, buyer: User) -> None:
    before = timezone.now()
    body = _login(api, buyer.email.upper())

    token = body["session_token"]
    assert isinstance(token, str)
    session = ApiSession.objects.get(user=buyer)
    assert session.pk == body["session_id"]
    assert session.key_hash == hashlib.sha256(token.encode()).hexdigest()
    stored = [
        str(value) for value in ApiSession.objects.filter(pk=session.pk).values().get().values()
    ]
    assert not any(token in value for value in stored)
    expires_at = datetime.fromisoformat(str(body["expires_at"]))
    expected = before + timedelta(days=settings.SESSION_TTL_DAYS)
    assert abs(expires_at - expected) < timedelta(seconds=30)
    assert _me_status(token) == 200


@override_settings(SESSION_TTL_DAYS=2)
def test_session_lifetime_is_configurable(api: APIClient, buyer: User) -> None:
    expires_at = datetime.fromisoformat(str(_login(api, buyer.email)["expires_at"]))
    assert abs(expires_at - (timezone.now() + timedelta(days=2))) < timedelta(seconds=30)


def test_tokens_are_unique_per_login(buyer: User) -> None:
    assert bearer_token(buyer) != bearer_token(buyer)


def test_an_expired_session_is_a_401(buyer: User) -> None:
    token = bearer_token(buyer)
    assert _me_status(token) == 200

    ApiSession.objects.filter(user=buyer).update(expires_at=timezone.now() - timedelta(seconds=1))

    assert _me_status(token) == 401


def test_logout_revokes_the_session_at_once(buyer: User) -> None:
    token = bearer_token(buyer)
    other = bearer_token(buyer)

    assert _bearer(token).post("/api/v1/auth/logout").status_code == 204

    assert _me_status(token) == 401
    assert _me_status(other) == 200  # only the session that logged out
    assert ApiSession.objects.get(key_hash=hashlib.sha256(token.encode()).hexdigest()).revoked_at


def test_a_session_of_a_deactivated_user_is_a_401(buyer: User) -> None:
    """Even without revocation, an inactive account's sessions do not authenticate."""
    token = bearer_token(buyer)
    User.objects.filter(pk=buyer.pk).update(is_active=False)
    assert _me_status(token) == 401


def test_token_is_accepted_only_in_the_authorization_header(buyer: User) -> None:
    token = bearer_token(buyer)

    in_query = APIClient().get("/api/v1/auth/me", {"session_token": token})
    assert in_query.status_code == 401

    for cookie in ("session_token", "sessionid", "Authorization"):
        client = APIClient()
        client.cookies[cookie] = token
        assert client.get("/api/v1/auth/me").status_code == 401, cookie

    assert _me_status(token) == 200


def test_token_without_the_bearer_keyword_is_a_401(buyer: User) -> None:
    token = bearer_token(buyer)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=token)
    assert client.get("/api/v1/auth/me").status_code == 401


# --- Listing and revoking sessions ---------------------------------------------------------


def test_session_list_shows_live_sessions_and_marks_the_current_one(buyer: User) -> None:
    current = bearer_token(buyer)
    other = bearer_token(buyer)
    expired = bearer_token(buyer)
    revoked = bearer_token(buyer)
    by_hash = {
        hashlib.sha256(t.encode()).hexdigest(): t for t in (current, other, expired, revoked)
    }
    ids = {by_hash[s.key_hash]: s.pk for s in ApiSession.objects.filter(user=buyer)}
    ApiSession.objects.filter(pk=ids[expired]).update(expires_at=timezone.now())
    ApiSession.objects.filter(pk=ids[revoked]).update(revoked_at=timezone.now())

    response = _bearer(current).get("/api/v1/auth/sessions")

    assert response.status_code == 200
    assert response.json()["count"] == 2  # paginated like every list (SPEC §7)
    rows = {row["id"]: row for row in response.json()["results"]}
    assert set(rows) == {ids[current], ids[other]}
    assert rows[ids[current]]["current"] is True
    assert rows[ids[other]]["current"] is False
    assert rows[ids[current]]["user_agent"] == "pytest"
    assert current not in response.content.decode()
    assert "key_hash" not in rows[ids[current]]


def _session_rows(token: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = _bearer(token).get("/api/v1/auth/sessions").json()["results"]
    return rows


def test_revoking_a_session_from_the_list(buyer: User) -> None:
    mine = bearer_token(buyer)
    lost_laptop = bearer_token(buyer)
    lost_id = next(row["id"] for row in _session_rows(mine) if not row["current"])

    response = _bearer(mine).delete(f"/api/v1/auth/sessions/{lost_id}")

    assert response.status_code == 204
    assert _me_status(lost_laptop) == 401
    assert _me_status(mine) == 200
    assert lost_id not in [row["id"] for row in _session_rows(mine)]
    assert _bearer(mine).delete("/api/v1/auth/sessions/999999").status_code == 404


# --- Password change and deactivation ------------------------------------------------------


def test_password_change_revokes_every_session_and_the_new_password_works(
    api: APIClient, buyer: User
) -> None:
    token = bearer_token(buyer)
    other = bearer_token(buyer)
    page = APIClient()
    page.force_login(buyer)
    assert page.get("/api/v1/auth/me").status_code == 200

    response = _bearer(token).post(
        "/api/v1/auth/password",
        {"current_password": PASSWORD, "new_password": NEW_PASSWORD},
        format="json",
    )

    assert response.status_code == 204, response.content
    assert _me_status(token) == 401
    assert _me_status(other) == 401
    assert page.get("/api/v1/auth/me").status_code == 401  # the page session too
    old = api.post(
        "/api/v1/auth/login", {"email": buyer.email, "password": PASSWORD}, format="json"
    )
    assert old.status_code == 401
    assert _me_status(_login(api, buyer.email, NEW_PASSWORD)["session_token"]) == 200


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"current_password": "not-my-password", "new_password": NEW_PASSWORD}, "current_password"),
        ({"current_password": PASSWORD, "new_password": "short"}, "new_password"),
        ({"current_password": PASSWORD, "new_password": "password123"}, "new_password"),
        ({"current_password": PASSWORD}, "new_password"),
    ],
    ids=["wrong-current", "short-new", "common-new", "missing-new"],
)
def test_a_refused_password_change_is_a_400_and_keeps_the_sessions(
    buyer: User, body: dict[str, str], field: str
) -> None:
    token = bearer_token(buyer)

    response = _bearer(token).post("/api/v1/auth/password", body, format="json")

    assert response.status_code == 400, response.content
    assert list(response.json()) == [field]
    assert _me_status(token) == 200
    buyer.refresh_from_db()
    assert buyer.check_password(PASSWORD)


def test_deactivation_revokes_all_sessions_at_once(buyer: User) -> None:
    tokens = [bearer_token(buyer) for _ in range(3)]
    page = APIClient()
    page.force_login(buyer)

    operator = UserFactory.create(is_staff=True)
    assert user_set_active(user_id=buyer.pk, active=False, actor=operator, origin=None)

    assert [_me_status(token) for token in tokens] == [401, 401, 401]
    assert page.get("/api/v1/auth/me").status_code == 401
    assert not ApiSession.objects.filter(user=buyer, revoked_at=None).exists()
    # Reactivating the account does not bring the old sessions back.
    assert user_set_active(user_id=buyer.pk, active=True, actor=operator, origin=None)
    assert [_me_status(token) for token in tokens] == [401, 401, 401]


# --- Profile ------------------------------------------------------------------------------


def test_display_name_is_shown_as_the_seller_on_listings(
    client_for: Callable[[User], APIClient], seller: User, api: APIClient
) -> None:
    listing = make_listing(seller=seller)
    me = client_for(seller)

    response = me.patch("/api/v1/auth/me", {"display_name": "  Acme Data Co  "}, format="json")

    assert response.status_code == 200, response.content
    assert response.json()["display_name"] == "Acme Data Co"
    assert me.get("/api/v1/auth/me").json()["display_name"] == "Acme Data Co"
    shown = api.get(f"/api/v1/listings/{listing.pk}").json()["seller"]
    assert shown == {"id": seller.pk, "display_name": "Acme Data Co"}


@pytest.mark.parametrize("name", ["", "   ", "n" * 81, None])
def test_a_bad_display_name_is_a_400(
    client_for: Callable[[User], APIClient], seller: User, name: str | None
) -> None:
    response = client_for(seller).patch("/api/v1/auth/me", {"display_name": name}, format="json")
    assert response.status_code == 400
    assert list(response.json()) == ["display_name"]


# --- CSRF ---------------------------------------------------------------------------------


def test_cookie_session_api_writes_need_a_csrf_token(buyer: User) -> None:
    page = APIClient(enforce_csrf_checks=True)
    page.force_login(buyer)
    assert page.get("/api/v1/auth/me").status_code == 200  # reads need no token

    refused = page.patch("/api/v1/auth/me", {"display_name": "Forged"}, format="json")

    assert refused.status_code == 403
    assert "CSRF" in refused.json()["detail"]
    assert not hasattr(User.objects.get(pk=buyer.pk), "seller_profile")

    csrf = get_random_string(32)
    page.cookies[settings.CSRF_COOKIE_NAME] = csrf
    allowed = page.patch(
        "/api/v1/auth/me", {"display_name": "Real me"}, format="json", headers={"X-CSRFToken": csrf}
    )
    assert allowed.status_code == 200, allowed.content
    assert allowed.json()["display_name"] == "Real me"


def test_bearer_api_writes_are_exempt_from_csrf(buyer: User) -> None:
    client = APIClient(enforce_csrf_checks=True)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {bearer_token(buyer)}")

    response = client.patch("/api/v1/auth/me", {"display_name": "Via Bearer"}, format="json")

    assert response.status_code == 200, response.content
    assert response.json()["display_name"] == "Via Bearer"


def test_csrf_applies_to_buying_with_a_cookie_session(buyer: User) -> None:
    listing = make_listing(seller=UserFactory.create(), units=3)
    page = APIClient(enforce_csrf_checks=True)
    page.force_login(buyer)

    response = page.post("/api/v1/orders", {"listing_id": listing.pk, "units": 1}, format="json")

    assert response.status_code == 403
    listing.refresh_from_db()
    assert listing.available_units == 3

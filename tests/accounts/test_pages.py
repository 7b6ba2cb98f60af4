"""Account pages: sign up, log in, log out, the session list, password change (SPEC §2, §8;
issue #4).

The pages call the services the API calls, so these tests check what is particular to pages:
a page login is a session the user can list and revoke like an API token (and revoking it
signs that browser out on its next request), the failed-login throttle applies with the same
answers, what was typed stays on the page (never a password), CSRF on every form, login
required, and a fixed number of queries however many sessions are listed.
"""

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.conf import settings
from django.test import Client, override_settings
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from accounts import login_throttle
from accounts.middleware import LINKED_SESSION_KEY, SIGNED_OUT_MESSAGE
from accounts.models import ApiSession, User
from accounts.services import INVALID_CREDENTIALS, REGISTRATION_ACCEPTED, api_session_create
from tests.factories import PASSWORD, UserFactory, bearer_token
from tests.pages import input_value, queries_for

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "a-different-long-passphrase"
WRONG = "not-the-password"
BROWSER = "Mozilla/5.0 (X11; Linux x86_64) PageTest/1.0"


@pytest.fixture(autouse=True)
def _mid_window(hold_rate_clock: Callable[[int], None]) -> None:
    hold_rate_clock(login_throttle.WINDOW_SECONDS)


def _browser() -> Client:
    return Client(HTTP_USER_AGENT=BROWSER)


def _log_in(client: Client, email: str, password: str = PASSWORD, **extra: Any) -> Any:
    return client.post(reverse("login"), {"email": email, "password": password, **extra})


def _signed_in_browser(user: User) -> Client:
    client = _browser()
    response = _log_in(client, user.email)
    assert response.status_code == 302, response.content
    return client


def _is_signed_in(client: Client) -> bool:
    response = client.get(reverse("account"))
    assert response.status_code in (200, 302)
    return response.status_code == 200


def _linked(client: Client) -> ApiSession:
    return ApiSession.objects.get(pk=client.session[LINKED_SESSION_KEY])


def _messages(response: Any) -> list[str]:
    return [str(message) for message in response.context["messages"]]


def _api_status(token: str) -> int:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client.get("/api/v1/auth/me").status_code


# --- Sign up ------------------------------------------------------------------------------


def test_signing_up_creates_the_account_then_the_user_logs_in(db: None) -> None:
    """Sign-up does not sign in (a taken address could not be, so it would tell: issue 14,
    tests/accounts/test_registration_privacy.py); the new account logs in right after."""
    client = _browser()

    response = client.post(
        reverse("signup"),
        {
            "email": "New.Buyer@Example.TEST",
            "password": NEW_PASSWORD,
            "password_again": NEW_PASSWORD,
        },
        follow=True,
    )

    assert response.redirect_chain == [(reverse("login"), 302)]
    user = User.objects.get()
    assert user.email == "new.buyer@example.test"
    assert user.check_password(NEW_PASSWORD)
    assert _messages(response) == [REGISTRATION_ACCEPTED]
    assert not _is_signed_in(client)

    assert _log_in(client, "new.buyer@example.test", NEW_PASSWORD).status_code == 302
    assert _is_signed_in(client)
    session = _linked(client)
    assert (session.user, session.kind, session.user_agent) == (user, "browser", BROWSER)


def test_signing_up_honours_a_safe_next_through_the_login(db: None) -> None:
    target = reverse("my-orders")
    client = _browser()
    form = client.get(reverse("signup"), {"next": target})
    assert input_value(form.content.decode(), "next") == target

    response = client.post(
        reverse("signup"),
        {
            "email": "a@example.test",
            "password": NEW_PASSWORD,
            "password_again": NEW_PASSWORD,
            "next": target,
        },
    )

    assert response.status_code == 302
    assert response["Location"] == f"{reverse('login')}?next=%2Forders"
    login = client.get(response["Location"])
    assert input_value(login.content.decode(), "next") == target
    logged_in = _log_in(client, "a@example.test", NEW_PASSWORD, next=target)
    assert logged_in["Location"] == target


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"password_again": "something-else-entirely"}, "password_again", "do not match"),
        ({"password": "short", "password_again": "short"}, "password", "too short"),
        ({"password": "password123", "password_again": "password123"}, "password", "common"),
        ({"email": "not-an-email"}, "email", "valid email"),
    ],
    ids=["mismatch", "too-short", "common", "bad-email"],
)
def test_a_refused_signup_says_why_and_keeps_the_email_but_no_password(
    db: None, data: dict[str, str], field: str, message: str
) -> None:
    UserFactory.create(email="taken@example.test")
    form = {
        "email": "keep.me@example.test",
        "password": NEW_PASSWORD,
        "password_again": NEW_PASSWORD,
        **data,
    }
    client = _browser()

    response = client.post(reverse("signup"), form)

    assert response.status_code == 400
    errors = response.context["form"].errors[field]
    assert any(message in error for error in errors), errors
    page = response.content.decode()
    assert input_value(page, "email") == form["email"]
    assert f'value="{form["password"]}"' not in page
    assert f'value="{form["password_again"]}"' not in page
    assert User.objects.count() == 1
    assert not _is_signed_in(client)


# --- Log in and out -----------------------------------------------------------------------


def test_logging_in_and_out(buyer: User) -> None:
    client = _browser()
    assert not _is_signed_in(client)

    response = _log_in(client, buyer.email.upper())

    assert response.status_code == 302
    assert response["Location"] == reverse("home")
    assert _is_signed_in(client)
    session = _linked(client)
    assert session.kind == ApiSession.Kind.BROWSER
    assert session.is_live()

    assert client.get(reverse("logout")).status_code == 200  # a GET only shows the button
    assert _is_signed_in(client)
    response = client.post(reverse("logout"), follow=True)

    assert "You have logged out." in _messages(response)
    assert not _is_signed_in(client)
    session.refresh_from_db()
    assert session.revoked_at is not None  # revoked, not just forgotten by this browser


def test_a_page_session_token_is_never_usable_as_a_bearer_token(buyer: User) -> None:
    client = _signed_in_browser(buyer)
    session = _linked(client)

    stored = " ".join(
        str(value) for value in ApiSession.objects.filter(pk=session.pk).values().get().values()
    )
    assert "agora_s_" not in stored  # only the hash, of a token nobody ever saw
    assert "agora_s_" not in client.get(reverse("account")).content.decode()
    assert "agora_s_" not in "".join(client.cookies[name].value for name in client.cookies)


def test_a_wrong_password_reads_exactly_like_an_unknown_email(buyer: User) -> None:
    wrong_password = _log_in(_browser(), buyer.email, WRONG)
    unknown_email = _log_in(_browser(), "nobody@example.test", WRONG)
    inactive = _log_in(_browser(), UserFactory.create(is_active=False).email)

    for response in (wrong_password, unknown_email, inactive):
        assert response.status_code == 400
        assert response.context["form"].errors == {"__all__": [INVALID_CREDENTIALS]}
        assert WRONG not in response.content.decode()
    assert input_value(wrong_password.content.decode(), "email") == buyer.email
    assert input_value(unknown_email.content.decode(), "email") == "nobody@example.test"
    assert not ApiSession.objects.exists()


@override_settings(LOGIN_FAILURE_LIMIT=3)
def test_a_throttled_page_login_is_a_429_with_a_clear_message(buyer: User) -> None:
    for _ in range(3):
        assert _log_in(_browser(), buyer.email, WRONG).status_code == 400

    client = _browser()
    response = _log_in(client, buyer.email)  # even the right password

    assert response.status_code == 429
    assert 0 < int(response["Retry-After"]) <= login_throttle.WINDOW_SECONDS
    assert "Too many failed logins. Try again later." in response.content.decode()
    assert input_value(response.content.decode(), "email") == buyer.email
    assert not _is_signed_in(client)
    assert not ApiSession.objects.exists()


def test_the_page_login_shares_the_apis_throttle(buyer: User) -> None:
    """Failures counted through the API throttle the page, and the other way round."""
    api = APIClient()
    with override_settings(LOGIN_FAILURE_LIMIT=2):
        api.post("/api/v1/auth/login", {"email": buyer.email, "password": WRONG}, format="json")
        _log_in(_browser(), buyer.email, WRONG)
        assert _log_in(_browser(), buyer.email).status_code == 429
        refused = api.post(
            "/api/v1/auth/login", {"email": buyer.email, "password": PASSWORD}, format="json"
        )
        assert refused.status_code == 429


UNREACHABLE_CACHE = {
    "default": {
        "BACKEND": "core.redis_cache.RedisCache",
        "LOCATION": "redis://127.0.0.1:1/0",  # nothing listens on port 1
        "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
    }
}


def test_a_page_login_fails_closed_with_a_503_when_the_cache_is_down(buyer: User) -> None:
    client = _browser()
    with override_settings(CACHES=UNREACHABLE_CACHE):
        response = _log_in(client, buyer.email)

    assert response.status_code == 503
    assert "Login is temporarily unavailable" in response.content.decode()
    assert not _is_signed_in(client)


@pytest.mark.parametrize(
    ("target", "honoured"),
    [
        ("/my/orders?page=2", True),
        ("https://evil.example/phish", False),
        ("//evil.example/phish", False),
        ("http://testserver.evil.example/", False),
        ("javascript:alert(1)", False),
    ],
    ids=["same-site", "other-host", "scheme-relative", "lookalike", "javascript"],
)
def test_login_follows_next_only_to_pages_of_this_site(
    buyer: User, target: str, honoured: bool
) -> None:
    client = _browser()
    form = client.get(reverse("login"), {"next": target}).content.decode()
    assert ('name="next"' in form) is honoured

    response = _log_in(client, buyer.email, next=target)

    assert response.status_code == 302
    assert response["Location"] == (target if honoured else reverse("home"))


def test_account_pages_need_a_login_and_come_back_after_it(buyer: User) -> None:
    client = _browser()
    for name in ("account", "password-change"):
        url = reverse(name)
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"] == f"{reverse('login')}?next={url}"

    revoke = client.post(reverse("account-session-revoke", args=[1]))
    assert revoke.status_code == 302
    assert revoke["Location"].startswith(reverse("login"))

    response = _log_in(client, buyer.email, next=reverse("password-change"))
    assert response["Location"] == reverse("password-change")


# --- Sessions: listed, marked, revoked ----------------------------------------------------


def test_the_account_page_lists_browser_and_api_sessions_and_marks_this_one(
    buyer: User,
) -> None:
    token = bearer_token(buyer)
    other_browser = _signed_in_browser(buyer)
    client = _signed_in_browser(buyer)
    stranger = api_session_create(user=UserFactory.create(), ip=None, user_agent="theirs")
    ApiSession.objects.create(  # revoked and expired sessions are not listed
        user=buyer,
        key_hash="r" * 64,
        expires_at=timezone.now() + timedelta(days=1),
        revoked_at=timezone.now(),
    )
    ApiSession.objects.create(user=buyer, key_hash="e" * 64, expires_at=timezone.now())

    response = client.get(reverse("account"))

    assert response.status_code == 200
    listed = {session.pk: session for session in response.context["sessions"]}
    mine = _linked(client).pk
    assert set(listed) == {
        mine,
        _linked(other_browser).pk,
        ApiSession.objects.get(
            user=buyer, kind="api", revoked_at=None, expires_at__gt=timezone.now()
        ).pk,
    }
    assert stranger.session.pk not in listed
    page = response.content.decode()
    assert page.count("This device") == 1
    assert page.count("<td>Browser") == 2
    assert page.count("<td>API") == 1
    assert page.count("Revoke and log out") == 1
    assert page.count('type="submit" class="danger"') == 3
    assert buyer.email in page
    assert token not in page
    assert BROWSER in page


def test_revoking_a_browser_session_through_the_api_signs_that_browser_out(buyer: User) -> None:
    browser = _signed_in_browser(buyer)
    kept = _signed_in_browser(buyer)
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {bearer_token(buyer)}")
    rows = api.get("/api/v1/auth/sessions").json()["results"]
    assert {row["kind"] for row in rows} == {"api", "browser"}

    assert api.delete(f"/api/v1/auth/sessions/{_linked(browser).pk}").status_code == 204

    response = browser.get(reverse("account"), follow=True)
    assert response.redirect_chain == [(f"{reverse('login')}?next={reverse('account')}", 302)]
    assert SIGNED_OUT_MESSAGE in _messages(response)
    assert LINKED_SESSION_KEY not in browser.session
    assert _is_signed_in(kept)


def test_revoking_another_browser_from_the_account_page(buyer: User) -> None:
    laptop = _signed_in_browser(buyer)
    phone = _signed_in_browser(buyer)

    response = laptop.post(reverse("account-session-revoke", args=[_linked(phone).pk]), follow=True)

    assert response.redirect_chain == [(reverse("account"), 302)]
    assert "Session ended: it can no longer be used." in _messages(response)
    assert not _is_signed_in(phone)
    assert _is_signed_in(laptop)


def test_revoking_an_api_token_from_the_account_page(buyer: User) -> None:
    token = bearer_token(buyer)
    client = _signed_in_browser(buyer)
    session_id = ApiSession.objects.get(user=buyer, kind="api").pk

    client.post(reverse("account-session-revoke", args=[session_id]))

    assert _api_status(token) == 401
    assert _is_signed_in(client)


def test_revoking_this_browsers_own_session_logs_it_out(buyer: User) -> None:
    client = _signed_in_browser(buyer)

    response = client.post(reverse("account-session-revoke", args=[_linked(client).pk]))

    assert response.status_code == 302
    assert not _is_signed_in(client)


def test_someone_elses_session_cannot_be_revoked(buyer: User) -> None:
    theirs = api_session_create(user=UserFactory.create(), ip=None, user_agent="x").session
    client = _signed_in_browser(buyer)

    assert client.post(reverse("account-session-revoke", args=[theirs.pk])).status_code == 404
    assert client.post(reverse("account-session-revoke", args=[999999])).status_code == 404
    theirs.refresh_from_db()
    assert theirs.revoked_at is None


def test_an_expired_browser_session_signs_the_browser_out(buyer: User) -> None:
    client = _signed_in_browser(buyer)
    ApiSession.objects.filter(pk=_linked(client).pk).update(expires_at=timezone.now())

    assert not _is_signed_in(client)


def test_the_browser_cookie_expires_with_its_session(buyer: User) -> None:
    client = _signed_in_browser(buyer)
    session = _linked(client)

    expiry = client.session.get_expiry_date()
    assert abs(expiry - session.expires_at) < timedelta(seconds=5)
    assert session.expires_at - timezone.now() > timedelta(days=settings.SESSION_TTL_DAYS - 1)


def test_logging_in_again_replaces_this_browsers_session(buyer: User) -> None:
    client = _signed_in_browser(buyer)
    first = _linked(client)

    _log_in(client, buyer.email)

    first.refresh_from_db()
    assert first.revoked_at is not None
    assert _linked(client).pk != first.pk
    assert ApiSession.objects.filter(user=buyer, revoked_at=None).count() == 1


def test_logging_in_as_someone_else_ends_the_first_users_browser_session(buyer: User) -> None:
    client = _signed_in_browser(buyer)
    first = _linked(client)
    other = UserFactory.create()

    _log_in(client, other.email)

    first.refresh_from_db()
    assert first.revoked_at is not None
    assert _linked(client).user == other


def test_logging_out_through_the_api_with_the_cookie_revokes_the_browser_session(
    buyer: User,
) -> None:
    client = _signed_in_browser(buyer)
    session = _linked(client)
    api = APIClient(enforce_csrf_checks=False)
    api.cookies = client.cookies

    assert api.post("/api/v1/auth/logout").status_code == 204

    session.refresh_from_db()
    assert session.revoked_at is not None


def test_the_api_marks_the_cookies_browser_session_as_current(buyer: User) -> None:
    client = _signed_in_browser(buyer)
    bearer_token(buyer)
    api = APIClient()
    api.cookies = client.cookies

    rows = api.get("/api/v1/auth/sessions").json()["results"]

    current = [row["id"] for row in rows if row["current"]]
    assert current == [_linked(client).pk]


def test_the_account_page_makes_the_same_queries_for_1_and_50_sessions(buyer: User) -> None:
    client = _signed_in_browser(buyer)
    UserFactory.create()  # a seller profile query must not depend on having one
    client.get(reverse("account"))  # settle anything the first request does once

    with_one = queries_for(client, reverse("account"))
    for _ in range(49):
        bearer_token(buyer)
    assert ApiSession.objects.filter(user=buyer).count() == 50
    with_fifty = queries_for(client, reverse("account"))

    assert with_one == with_fifty
    # Django session, linked-session check, user, seller profile, count and page of sessions.
    assert with_one <= 6


# --- Password change ----------------------------------------------------------------------


def test_a_password_change_keeps_this_browser_and_signs_out_every_other(buyer: User) -> None:
    client = _signed_in_browser(buyer)
    before = _linked(client)
    other_browser = _signed_in_browser(buyer)
    unlinked = Client()
    unlinked.force_login(buyer)
    token = bearer_token(buyer)

    response = client.post(
        reverse("password-change"),
        {
            "current_password": PASSWORD,
            "new_password": NEW_PASSWORD,
            "new_password_again": NEW_PASSWORD,
        },
        follow=True,
    )

    assert response.redirect_chain == [(reverse("account"), 302)]
    assert any("Password changed" in message for message in _messages(response))
    assert _is_signed_in(client)
    after = _linked(client)
    assert after.pk != before.pk and after.is_live()
    assert not _is_signed_in(other_browser)
    assert not _is_signed_in(unlinked)
    assert _api_status(token) == 401
    assert list(ApiSession.objects.filter(user=buyer, revoked_at=None)) == [after]
    assert _log_in(_browser(), buyer.email, PASSWORD).status_code == 400
    assert _log_in(_browser(), buyer.email, NEW_PASSWORD).status_code == 302


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"current_password": WRONG}, "current_password", "not correct"),
        ({"new_password_again": "something-else-entirely"}, "new_password_again", "match"),
        ({"new_password": "short", "new_password_again": "short"}, "new_password", "too short"),
    ],
    ids=["wrong-current", "mismatch", "too-short"],
)
def test_a_refused_password_change_says_why_and_keeps_every_session(
    buyer: User, data: dict[str, str], field: str, message: str
) -> None:
    client = _signed_in_browser(buyer)
    token = bearer_token(buyer)
    form = {
        "current_password": PASSWORD,
        "new_password": NEW_PASSWORD,
        "new_password_again": NEW_PASSWORD,
        **data,
    }

    response = client.post(reverse("password-change"), form)

    assert response.status_code == 400
    errors = response.context["form"].errors[field]
    assert any(message in error for error in errors), errors
    page = response.content.decode()
    for typed in form.values():
        assert f'value="{typed}"' not in page
    assert _is_signed_in(client)
    assert _api_status(token) == 200
    buyer.refresh_from_db()
    assert buyer.check_password(PASSWORD)


# --- Seller display name ------------------------------------------------------------------


def test_setting_the_seller_display_name(buyer: User) -> None:
    client = _signed_in_browser(buyer)

    response = client.post(reverse("account"), {"display_name": "  Acme Data Co "}, follow=True)

    assert "Buyers now see you as “Acme Data Co”." in _messages(response)
    assert input_value(response.content.decode(), "display_name") == "Acme Data Co"
    buyer.refresh_from_db()
    assert buyer.seller_profile.display_name == "Acme Data Co"


def test_a_refused_display_name_keeps_what_was_typed(buyer: User) -> None:
    client = _signed_in_browser(buyer)
    too_long = "n" * 81

    response = client.post(reverse("account"), {"display_name": too_long})

    assert response.status_code == 400
    assert response.context["name_form"].errors["display_name"]
    assert input_value(response.content.decode(), "display_name") == too_long
    assert not hasattr(User.objects.get(pk=buyer.pk), "seller_profile")


# --- Forms: CSRF, labels, autocomplete ----------------------------------------------------


def test_every_account_form_needs_its_csrf_token(buyer: User) -> None:
    other = api_session_create(user=buyer, ip=None, user_agent="other").session
    client = Client(enforce_csrf_checks=True)
    client.force_login(buyer)
    posts = {
        reverse("signup"): {
            "email": "x@example.test",
            "password": NEW_PASSWORD,
            "password_again": NEW_PASSWORD,
        },
        reverse("login"): {"email": buyer.email, "password": PASSWORD},
        reverse("account"): {"display_name": "Forged"},
        reverse("password-change"): {
            "current_password": PASSWORD,
            "new_password": NEW_PASSWORD,
            "new_password_again": NEW_PASSWORD,
        },
        reverse("account-session-revoke", args=[other.pk]): {},
        reverse("logout"): {},
    }

    for url, data in posts.items():
        assert client.post(url, data).status_code == 403, url

    other.refresh_from_db()
    assert other.revoked_at is None
    assert User.objects.count() == 1
    assert _is_signed_in(client)


@pytest.mark.parametrize(
    ("url_name", "fields"),
    [
        (
            "signup",
            {"email": "email", "password": "new-password", "password_again": "new-password"},
        ),
        ("login", {"email": "email", "password": "current-password"}),
        (
            "password-change",
            {
                "current_password": "current-password",
                "new_password": "new-password",
                "new_password_again": "new-password",
            },
        ),
    ],
)
def test_every_input_has_a_label_and_autocomplete(
    buyer: User, url_name: str, fields: dict[str, str]
) -> None:
    client = Client()
    client.force_login(buyer)

    page = client.get(reverse(url_name)).content.decode()

    assert "csrfmiddlewaretoken" in page
    for name, autocomplete in fields.items():
        assert f'<label for="id_{name}">' in page, name
        assert f'autocomplete="{autocomplete}"' in page
        assert f'name="{name}"' in page
    assert "<script>" not in page and "style=" not in page

"""Issue 14, class 11: registration does not tell who has an account.

Signing up with an address that already has an account gets the same answer as with a free
one, through the API and the sign-up page alike: the same status, the same body, no session
cookie or token for either, and in about the same time, since the password is hashed
(Argon2) in both cases. Input refused whoever asks (a weak password) is still a 400.
"""

import statistics
import time
from collections.abc import Callable
from typing import Any

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from accounts.models import User
from accounts.services import REGISTRATION_ACCEPTED
from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "a-different-long-passphrase"
# Headers that differ between any two requests, whatever they do.
PER_REQUEST_HEADERS = {"X-Request-ID"}
MESSAGES_COOKIE = "messages"  # django.contrib.messages' cookie storage, signed with the time


def _api_register(email: str, password: str = NEW_PASSWORD) -> Any:
    return APIClient().post(
        "/api/v1/auth/register", {"email": email, "password": password}, format="json"
    )


def _page_signup(email: str, password: str = NEW_PASSWORD) -> Any:
    return Client().post(
        reverse("signup"),
        {"email": email, "password": password, "password_again": password, "next": "/orders"},
    )


def _messages_shown(cookie: str) -> list[str]:
    """The messages a browser with this messages cookie sees on its next page."""
    client = Client()
    client.cookies[MESSAGES_COOKIE] = cookie
    return [str(message) for message in client.get(reverse("login")).context["messages"]]


def _answer(response: Any) -> dict[str, Any]:
    """All a client can see of a response but what varies with every request (its id, and
    when the messages cookie was signed: its messages are compared instead)."""
    cookies = {name: morsel.value for name, morsel in response.cookies.items()}
    if MESSAGES_COOKIE in cookies:
        cookies[MESSAGES_COOKIE] = _messages_shown(cookies[MESSAGES_COOKIE])
    return {
        "status": response.status_code,
        "body": response.content,
        "headers": {
            name: value
            for name, value in response.headers.items()
            if name not in PER_REQUEST_HEADERS
        },
        "cookies": cookies,
    }


@pytest.mark.parametrize("send", [_api_register, _page_signup], ids=["api", "page"])
def test_a_taken_address_gets_the_same_answer_as_a_free_one(
    db: None, send: Callable[..., Any]
) -> None:
    free = send("first@example.test")
    taken = send("first@example.test")
    taken_in_another_case = send("FIRST@Example.TEST")

    assert _answer(free) == _answer(taken) == _answer(taken_in_another_case)
    assert free.status_code in (202, 302)
    if free.status_code == 302:
        assert _answer(free)["cookies"][MESSAGES_COOKIE] == [REGISTRATION_ACCEPTED]
    assert settings.SESSION_COOKIE_NAME not in free.cookies
    assert b"session_token" not in free.content
    [user] = User.objects.all()
    assert user.check_password(NEW_PASSWORD)  # the first one made the account...


def test_a_second_sign_up_changes_nothing_of_the_account(buyer: User) -> None:
    _api_register(buyer.email, "someone-elses-passphrase")
    _page_signup(buyer.email, "someone-elses-passphrase")

    buyer.refresh_from_db()
    assert buyer.check_password(PASSWORD)
    assert User.objects.count() == 1
    login = APIClient().post(
        "/api/v1/auth/login",
        {"email": buyer.email, "password": "someone-elses-passphrase"},
        format="json",
    )
    assert login.status_code == 401


def test_the_api_answer_is_neutral(db: None) -> None:
    response = _api_register("someone@example.test")

    assert response.status_code == 202
    assert response.json() == {"detail": REGISTRATION_ACCEPTED}


def test_the_page_sends_both_to_the_login_page_with_the_same_message(buyer: User) -> None:
    for email in ("new@example.test", buyer.email):
        client = Client()
        response = client.post(
            reverse("signup"),
            {"email": email, "password": NEW_PASSWORD, "password_again": NEW_PASSWORD},
            follow=True,
        )

        assert response.redirect_chain == [(reverse("login"), 302)]
        assert [str(m) for m in response.context["messages"]] == [REGISTRATION_ACCEPTED]
        assert client.get(reverse("account")).status_code == 302  # nobody is signed in


@pytest.mark.parametrize("send", [_api_register, _page_signup], ids=["api", "page"])
def test_a_weak_password_is_refused_alike_for_a_free_and_a_taken_address(
    buyer: User, send: Callable[..., Any]
) -> None:
    free = send("free@example.test", "password123")
    taken = send(buyer.email, "password123")

    assert free.status_code == taken.status_code == 400
    if send is _api_register:
        assert free.json() == taken.json()
        assert list(free.json()) == ["password"]
    assert User.objects.count() == 1


SAMPLES = 7  # each costs an Argon2 hash: enough for a median, quick enough to run always


def test_a_taken_address_takes_as_long_as_a_free_one(buyer: User) -> None:
    """The password is hashed either way, so the time does not tell either. Calls alternate,
    so a slow moment of the machine falls on both; the bound is wide (2x) because a taken
    address that skipped the hash would answer many times faster."""
    free_times: list[float] = []
    taken_times: list[float] = []
    for n in range(SAMPLES):
        for email, times in ((f"new-{n}@example.test", free_times), (buyer.email, taken_times)):
            started = time.perf_counter()
            assert _api_register(email).status_code == 202
            times.append(time.perf_counter() - started)

    free, taken = statistics.median(free_times), statistics.median(taken_times)
    assert free / 2 < taken < free * 2, (free_times, taken_times)

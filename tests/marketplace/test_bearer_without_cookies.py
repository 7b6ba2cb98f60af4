"""API calls with a Bearer token leave no cookie and no session behind; every other request
(pages, the admin, API calls by a signed-in browser) keeps its cookie session."""

import pytest
from django.test import Client

from accounts.models import CookieSession
from tests.factories import UserFactory, bearer_token, make_listing

pytestmark = pytest.mark.django_db


def test_a_bearer_api_call_works_without_touching_cookies_or_sessions() -> None:
    buyer = UserFactory.create()
    client = Client(HTTP_AUTHORIZATION=f"Bearer {bearer_token(buyer)}")

    me = client.get("/api/v1/auth/me")
    bought = client.post(
        "/api/v1/orders",
        {"listing_id": make_listing().pk, "units": 1},
        content_type="application/json",
    )

    assert me.status_code == 200 and me.json()["email"] == buyer.email
    assert bought.status_code == 201
    for response in (me, bought):
        assert not response.cookies
    assert not CookieSession.objects.exists()


@pytest.mark.parametrize("header", ["Bearer", "bearer agora_s_unknown", "Bearer a b"])
def test_a_bad_bearer_header_is_refused_with_401(header: str) -> None:
    response = Client(HTTP_AUTHORIZATION=header).get("/api/v1/auth/me")

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Bearer"


def test_another_scheme_falls_back_to_the_browser_session() -> None:
    user = UserFactory.create()
    client = Client(HTTP_AUTHORIZATION="Basic dXNlcjpwYXNz")

    assert client.get("/api/v1/auth/me").status_code in (401, 403)
    client.force_login(user)
    assert client.get("/api/v1/auth/me").json()["email"] == user.email


def test_pages_keep_sessions_and_messages_even_with_a_bearer_header() -> None:
    user = UserFactory.create()
    client = Client(HTTP_AUTHORIZATION=f"Bearer {bearer_token(user)}")
    client.force_login(user)

    page = client.get("/orders")

    assert page.status_code == 200
    assert page.context["user"] == user

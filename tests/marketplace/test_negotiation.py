"""The renderer a client gets follows its own Accept header and the `format` parameter."""

from collections.abc import Callable

import pytest
from rest_framework.test import APIClient

from accounts.models import User

pytestmark = pytest.mark.django_db


def test_each_accept_header_gets_its_own_renderer_in_any_order(
    client_for: Callable[[User], APIClient], buyer: User
) -> None:
    api = client_for(buyer)
    asked = ["application/json", "text/html", "*/*", "text/html", "application/json", None]
    types = []
    for accept in asked:
        headers = {"Accept": accept} if accept else {}
        response = api.get("/api/v1/auth/me", headers=headers)
        assert response.status_code == 200
        types.append(response["Content-Type"].split(";")[0])

    assert types == ["application/json", "text/html", "application/json", "text/html",
                     "application/json", "application/json"]  # fmt: skip


def test_an_unacceptable_header_is_refused_every_time(
    client_for: Callable[[User], APIClient], buyer: User
) -> None:
    api = client_for(buyer)
    for _ in range(2):
        response = api.get("/api/v1/auth/me", headers={"Accept": "image/png"})
        assert response.status_code == 406


def test_the_format_parameter_overrides_a_remembered_header(
    client_for: Callable[[User], APIClient], buyer: User
) -> None:
    api = client_for(buyer)
    html = {"Accept": "text/html,*/*"}
    assert api.get("/api/v1/auth/me", headers=html)["Content-Type"].startswith("text/html")

    response = api.get("/api/v1/auth/me?format=json", headers=html)

    assert response["Content-Type"].startswith("application/json")
    assert response.json()["id"] == buyer.pk

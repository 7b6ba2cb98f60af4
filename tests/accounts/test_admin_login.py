"""SPEC §2: failed logins are throttled on the admin too, and it never says which was wrong."""

import pytest
from django.test import Client, override_settings

from accounts.models import User
from tests.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db


def _admin_login(email: str, password: str) -> Client:
    client = Client()
    client.post("/admin/login/?next=/admin/", {"username": email, "password": password})
    return client


def _logged_in(client: Client) -> bool:
    return client.get("/admin/").status_code == 200


@pytest.fixture
def operator() -> User:
    return UserFactory.create(is_staff=True, is_superuser=True)


def test_operator_logs_in_with_the_right_password(operator: User) -> None:
    assert _logged_in(_admin_login(operator.email.upper(), PASSWORD))


@override_settings(LOGIN_FAILURE_LIMIT=3)
def test_admin_login_is_refused_after_too_many_failures(operator: User) -> None:
    for _ in range(3):
        assert not _logged_in(_admin_login(operator.email, "wrong-password"))

    client = Client()
    response = client.post("/admin/login/", {"username": operator.email, "password": PASSWORD})

    assert "Too many failed logins" in response.content.decode()
    assert not _logged_in(client)


def test_wrong_password_and_unknown_email_read_the_same(operator: User) -> None:
    wrong_password = Client().post(
        "/admin/login/", {"username": operator.email, "password": "nope-nope-nope"}
    )
    unknown_email = Client().post(
        "/admin/login/", {"username": "nobody@example.test", "password": "nope-nope-nope"}
    )
    assert wrong_password.context["form"].errors == unknown_email.context["form"].errors

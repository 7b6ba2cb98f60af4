"""Operators in the admin: a superuser, a moderator made the way the product makes them, and
admin clients that remember where they came from (the audit log records it)."""

import html
from collections.abc import Callable, Sequence

import pytest
from django.test import Client

from accounts.models import User
from accounts.moderation import user_set_moderator
from tests.factories import UserFactory

OPERATOR_IP = "198.51.100.4"
OPERATOR_AGENT = "ops-browser/1.0"

AdminFor = Callable[[User], Client]


@pytest.fixture
def superuser(db: None) -> User:
    return UserFactory.create(is_staff=True, is_superuser=True)


@pytest.fixture
def moderator(superuser: User) -> User:
    user = UserFactory.create()
    assert user_set_moderator(user_id=user.pk, moderator=True, actor=superuser, origin=None)
    user.refresh_from_db()
    return user


@pytest.fixture
def admin_for() -> AdminFor:
    def make(user: User) -> Client:
        client = Client(REMOTE_ADDR=OPERATOR_IP, HTTP_USER_AGENT=OPERATOR_AGENT)
        client.force_login(user)
        return client

    return make


def run_action(client: Client, changelist: str, action: str, ids: Sequence[int]) -> str:
    """Post an admin action for the selected rows; the text of the page it lands on."""
    response = client.post(
        changelist,
        {"action": action, "_selected_action": [str(i) for i in ids], "index": "0"},
        follow=True,
    )
    assert response.status_code == 200, response.status_code
    return html.unescape(response.content.decode())

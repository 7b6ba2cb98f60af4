"""The Bearer session lookup compiled once (accounts.session_lookup) loads exactly what the
ORM query it replaces loads, on the backend the suite runs on (SQLite and PostgreSQL)."""

import threading

import pytest
from django.db import connection

from accounts.models import ApiSession
from accounts.services import hash_session_token
from accounts.session_lookup import api_session_with_user
from tests.factories import UserFactory, bearer_token

pytestmark = pytest.mark.django_db


def _fields(instance: object) -> dict[str, object]:
    return {k: v for k, v in vars(instance).items() if not k.startswith("_")}


def test_the_session_and_its_user_equal_the_orm_ones() -> None:
    user = UserFactory.create(is_staff=True)
    token = bearer_token(user)
    key_hash = hash_session_token(token)

    found = api_session_with_user(key_hash)
    expected = ApiSession.objects.select_related("user").get(key_hash=key_hash)

    assert found is not None
    assert _fields(found) == _fields(expected)
    assert _fields(found.user) == _fields(expected.user)
    assert found.user.date_joined.tzinfo is not None  # converted, not a raw string
    assert found._state.adding is False and found.user._state.db == "default"


def test_an_unknown_hash_finds_nothing() -> None:
    bearer_token(UserFactory.create())

    assert api_session_with_user(hash_session_token("agora_s_unknown")) is None


@pytest.mark.django_db(transaction=True)
def test_each_thread_uses_its_own_connection() -> None:
    token = bearer_token(UserFactory.create())
    found: list[ApiSession | None] = []

    def look_up() -> None:
        try:
            found.append(api_session_with_user(hash_session_token(token)))
        finally:
            connection.close()

    thread = threading.Thread(target=look_up)
    thread.start()
    thread.join()

    assert found[0] is not None and found[0].user.email
    assert api_session_with_user(hash_session_token(token)) is not None

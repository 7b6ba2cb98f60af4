"""Issue 14, class 5: page and admin sessions cannot be used from a database dump.

The session engine (accounts/session_store.py) stores the SHA-256 of a session's key, never
the key the cookie carries, as API tokens are stored. These tests log in through the real
login pages, read what the database holds, and try it as a cookie.
"""

import asyncio
import hashlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from importlib import import_module
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.apps import apps
from django.conf import settings
from django.contrib.sessions.backends.base import SessionBase
from django.core.management import call_command
from django.db import connection, connections
from django.db.migrations.executor import MigrationExecutor
from django.test import Client
from django.utils import timezone

from accounts import login_throttle
from accounts.models import ApiSession, User
from accounts.services import api_session_create
from tests.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db

COOKIE = settings.SESSION_COOKIE_NAME


@pytest.fixture(autouse=True)
def _mid_window(hold_rate_clock: Callable[[int], None]) -> None:
    hold_rate_clock(login_throttle.WINDOW_SECONDS)


@pytest.fixture
def operator() -> User:
    return UserFactory.create(is_staff=True, is_superuser=True)


def _store(session_key: str | None = None) -> SessionBase:
    store: SessionBase = import_module(settings.SESSION_ENGINE).SessionStore(session_key)
    return store


def _stored_keys() -> list[str]:
    """The primary keys of the session table the configured engine writes."""
    model = _store().get_model_class()  # type: ignore[attr-defined]
    return [str(key) for key in model.objects.values_list("pk", flat=True)]


def _tables_holding(value: str) -> list[str]:
    """Every table with a row that holds `value` in some column: a database dump, read back."""
    return [
        model._meta.db_table
        for model in apps.get_models(include_auto_created=True)
        if any(value in repr(row) for row in model._default_manager.values_list())
    ]


def _page_login(user: User) -> Client:
    client = Client()
    response = client.post("/login", {"email": user.email, "password": PASSWORD})
    assert response.status_code == 302, response.content
    return client


def _admin_login(user: User) -> Client:
    client = Client()
    response = client.post(
        "/admin/login/?next=/admin/", {"username": user.email, "password": PASSWORD}
    )
    assert response.status_code == 302, response.content
    return client


def _cookie(client: Client) -> str:
    value: str = client.cookies[COOKIE].value
    assert value
    return value


def _with_cookie(value: str) -> Client:
    client = Client()
    client.cookies[COOKIE] = value
    return client


def _sha256(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def test_a_page_login_stores_only_the_hash_of_the_cookie(buyer: User) -> None:
    cookie = _cookie(_page_login(buyer))

    assert _tables_holding(cookie) == []
    assert _stored_keys() == [_sha256(cookie)]


def test_a_stored_key_put_in_a_cookie_opens_nothing(buyer: User) -> None:
    browser = _page_login(buyer)
    [stored] = _stored_keys()

    thief = _with_cookie(stored)

    page = thief.get("/account")
    assert page.status_code == 302
    assert page["Location"].startswith("/login")
    assert thief.get("/api/v1/auth/me").status_code in (401, 403)
    assert browser.get("/account").status_code == 200  # the real cookie still works
    assert browser.get("/api/v1/auth/me").json()["email"] == buyer.email


def test_a_stored_admin_session_opens_no_admin_page(operator: User) -> None:
    browser = _admin_login(operator)
    assert browser.get("/admin/").status_code == 200
    assert _tables_holding(_cookie(browser)) == []
    [stored] = _stored_keys()

    response = _with_cookie(stored).get("/admin/")

    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")
    assert browser.get("/admin/accounts/user/").status_code == 200


def test_logging_out_deletes_the_stored_session(buyer: User) -> None:
    browser = _page_login(buyer)
    cookie = _cookie(browser)

    browser.post("/logout")

    assert _sha256(cookie) not in _stored_keys()
    assert _with_cookie(cookie).get("/account").status_code == 302


def test_logging_in_changes_the_key_and_forgets_the_old_one(buyer: User) -> None:
    """Django's session fixation defence (a new key at login) still holds, whether the browser
    came with a real anonymous session or with a key it made up."""
    client = Client()
    anonymous = _store()
    anonymous["seen"] = True
    anonymous.save()
    assert anonymous.session_key
    made_up = "attacker-chosen-session-key-0123456789"
    for before in (anonymous.session_key, made_up):
        client.cookies[COOKIE] = before

        assert (
            client.post("/login", {"email": buyer.email, "password": PASSWORD}).status_code == 302
        )

        after = _cookie(client)
        assert after != before
        assert _sha256(before) not in _stored_keys()
        assert _sha256(after) in _stored_keys()
        assert _with_cookie(before).get("/account").status_code == 302
        assert _with_cookie(after).get("/account").status_code == 200


def test_an_unknown_cookie_gets_a_fresh_key_when_the_session_is_written(db: None) -> None:
    store = _store("a-key-the-server-never-issued-0123456789")
    store["note"] = "kept"

    store.save()

    assert store.session_key != "a-key-the-server-never-issued-0123456789"
    assert _stored_keys() == [_sha256(str(store.session_key))]
    assert _store(store.session_key)["note"] == "kept"


def test_clearsessions_removes_expired_sessions_only(db: None) -> None:
    live, expired = _store(), _store()
    for store, expiry in ((live, 3600), (expired, -1)):
        store["n"] = 1
        store.set_expiry(expiry)
        store.save()

    call_command("clearsessions")

    assert _stored_keys() == [_sha256(str(live.session_key))]
    assert _store(live.session_key)["n"] == 1
    assert not _store(expired.session_key).exists(str(expired.session_key))


@pytest.mark.django_db(transaction=True)
def test_the_migration_ends_the_plaintext_sessions_and_their_browser_rows() -> None:
    """accounts 0004: the old `django_session` rows are deleted (the new engine never reads
    them) and the browser sessions they were linked to are revoked, API tokens untouched."""
    executor = MigrationExecutor(connection)
    before = [("accounts", "0003_user_deactivate_permission"), ("sessions", "0001_initial")]
    executor.migrate(before)
    old = executor.loader.project_state(before).apps
    user = old.get_model("accounts", "User").objects.create(email="old@example.test")
    old.get_model("sessions", "Session").objects.create(
        session_key="plaintextsessionkey0123456789abcd",
        session_data="{}",
        expire_date=timezone.now() + timedelta(days=1),
    )
    sessions: dict[str, Any] = {}
    for kind in ("browser", "api"):
        sessions[kind] = (
            old.get_model("accounts", "ApiSession")
            .objects.create(
                user_id=user.pk,
                kind=kind,
                key_hash=kind * 8,
                expires_at=timezone.now() + timedelta(days=1),
            )
            .pk
        )

    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())

    with connection.cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM django_session")
        assert cursor.fetchone() == (0,)
    assert ApiSession.objects.get(pk=sessions["browser"]).revoked_at is not None
    assert ApiSession.objects.get(pk=sessions["api"]).revoked_at is None


def test_api_tokens_are_unaffected(buyer: User) -> None:
    issued = api_session_create(user=buyer, ip=None, user_agent="cli")
    client = Client(HTTP_AUTHORIZATION=f"Bearer {issued.token}")
    assert client.get("/api/v1/auth/me").status_code == 200
    assert _tables_holding(issued.token) == []


@pytest.mark.django_db(transaction=True)
def test_the_async_methods_store_and_find_by_the_hash_alike() -> None:
    """The same store under ASGI (marketplace/asgi.py): Django's async session methods."""

    async def round_trip() -> dict[str, Any]:
        store = _store()
        await store.aset("n", 2)
        await store.asave()
        key = str(store.session_key)
        seen: dict[str, Any] = {
            "data": dict(await _store(key).aitems()),
            "stored": await sync_to_async(_stored_keys)(),
            "hash_as_key": dict(await _store(_sha256(key)).aitems()),
        }
        await _store(key).adelete()
        seen["exists_after_delete"] = await store.aexists(key)
        seen["key"] = key
        await sync_to_async(connections.close_all)()  # the async thread's own connection
        return seen

    # In a thread of its own: Playwright's tests leave an event loop running in this one.
    with ThreadPoolExecutor(max_workers=1) as pool:
        seen = pool.submit(asyncio.run, round_trip()).result(timeout=30)

    assert seen["data"] == {"n": 2}
    assert seen["stored"] == [_sha256(seen["key"])]
    assert seen["hash_as_key"] == {}
    assert seen["exists_after_delete"] is False

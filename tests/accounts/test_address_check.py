"""SPEC §14: sign-up mails an address check; following its signed link confirms the address.
A sign-up with a taken address mails its owner instead, so both answers cost one mail."""

import re
import time
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import pytest
from django.core import mail, signing
from django.test import Client
from rest_framework.test import APIClient

from accounts.address_check import INVALID_LINK, address_check_token
from accounts.models import User
from tests.factories import UserFactory
from tests.workers import queued_jobs, run_queued_jobs

pytestmark = pytest.mark.django_db
PASSWORD = "a-long-signup-passphrase"


def _register(email: str) -> Any:
    return APIClient().post(
        "/api/v1/auth/register", {"email": email, "password": PASSWORD}, format="json"
    )


def _link(index: int = 0) -> str:
    [link] = re.findall(r"http://\S+/verify-email/\S+", str(mail.outbox[index].body))
    return link


def test_a_new_account_is_mailed_a_link_that_confirms_its_address() -> None:
    assert _register("new@example.org").status_code == 202
    user = User.objects.get(email="new@example.org")
    assert queued_jobs() == [("accounts.jobs.address_check_mail", [user.pk], 1)]
    run_queued_jobs()
    assert mail.outbox[0].to == ["new@example.org"]

    page = Client().get(_link()[_link().index("/verify-email/") :])

    assert page.status_code == 200
    user.refresh_from_db()
    assert user.email_verified_at is not None
    client = APIClient()
    client.force_authenticate(user)
    assert client.get("/api/v1/auth/me").json()["email_verified"] is True


def test_a_taken_address_mails_its_owner_and_answers_alike() -> None:
    owner = UserFactory.create(email="taken@example.org")

    assert _register("taken@example.org").json() == _register("free@example.org").json()
    jobs = queued_jobs()
    assert jobs[0] == ("accounts.jobs.signup_attempt_mail", [owner.pk], 1)
    assert jobs[1][0] == "accounts.jobs.address_check_mail"
    run_queued_jobs()
    assert mail.outbox[0].to == ["taken@example.org"]
    assert "already has one" in mail.outbox[0].body


@pytest.mark.parametrize("token", ["", "nonsense", "eyJhIjoxfQ:abc:def"])
def test_a_forged_link_confirms_nothing(token: str) -> None:
    user = UserFactory.create()

    response = APIClient().post(
        "/api/v1/auth/verify-email/confirm", {"token": token}, format="json"
    )

    assert response.status_code == 400 and "token" in response.json()
    user.refresh_from_db()
    assert user.email_verified_at is None


def test_a_link_expires_after_three_days_and_works_for_its_address_only(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    user = UserFactory.create()
    three_days_ago = time.time() - 3 * 24 * 3600 - 60
    with monkeypatch.context() as past:  # the link as mailed a little over three days ago
        past.setattr(signing, "time", SimpleNamespace(time=lambda: three_days_ago))
        old = address_check_token(user)
    expired = Client().get(f"/verify-email/{old}")
    assert expired.status_code == 400 and INVALID_LINK in expired.content.decode()

    token = address_check_token(user)
    user.email = "changed@example.org"
    user.save()
    assert Client().get(f"/verify-email/{token}").status_code == 400
    user.refresh_from_db()
    assert user.email_verified_at is None


def test_the_account_page_and_the_api_send_the_link_again(
    client_for: Callable[[User], APIClient],
) -> None:
    user = UserFactory.create()
    browser = Client()
    browser.force_login(user)

    assert "Mail me the link again" in browser.get("/account").content.decode()
    browser.post("/account/verify-email")
    assert client_for(user).post("/api/v1/auth/verify-email").status_code == 202
    run_queued_jobs()

    assert [message.to for message in mail.outbox] == [[user.email], [user.email]]
    confirmed = APIClient().post(
        "/api/v1/auth/verify-email/confirm",
        {"token": _link(1).rsplit("/", 1)[1]},
        format="json",
    )
    assert confirmed.status_code == 204
    assert "(confirmed)" in browser.get("/account").content.decode()

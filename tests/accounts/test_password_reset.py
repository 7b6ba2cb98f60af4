"""SPEC §14: a forgotten password is reset by a one-time link, mailed by a job worker through a
real SMTP exchange; asking never tells whether an address has an account."""

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from django.test import Client
from django_q.models import Failure, OrmQ, Schedule
from rest_framework.test import APIClient

from accounts.models import User
from accounts.password_reset import INVALID_LINK, RESET_REQUESTED, password_reset_token
from tests.factories import PASSWORD, UserFactory
from tests.mail_sink import MailSink, text_of
from tests.threads import all_at_once
from tests.workers import running_worker, wait_until

NEW_PASSWORD = "a-new-passphrase-42"


def _request(email: str) -> tuple[int, dict[str, object]]:
    response = APIClient().post("/api/v1/auth/password-reset", {"email": email}, format="json")
    return response.status_code, response.json()


def _confirm(token: str, password: str = NEW_PASSWORD) -> tuple[int, object]:
    response = APIClient().post(
        "/api/v1/auth/password-reset/confirm",
        {"token": token, "new_password": password},
        format="json",
    )
    return response.status_code, response.json() if response.content else None


def _logs_in(user: User, password: str) -> bool:
    response = APIClient().post(
        "/api/v1/auth/login", {"email": user.email, "password": password}, format="json"
    )
    return response.status_code == 200


@pytest.mark.django_db(transaction=True)  # the worker sees only what is committed
@pytest.mark.usefixtures("require_postgres")
def test_a_forgotten_password_is_reset_by_the_mailed_link(
    mail_sink: MailSink,
    tmp_path: Path,
    client_for: Callable[[User], APIClient],
) -> None:
    user = UserFactory.create()
    signed_in = client_for(user)

    assert _request(user.email.upper()) == (202, {"detail": RESET_REQUESTED})
    with running_worker(tmp_path / "worker.log", EMAIL_URL=mail_sink.url):
        wait_until(lambda: bool(mail_sink.messages), timeout=30, what="the mail")

    [mail] = mail_sink.messages
    assert mail["To"] == user.email
    assert "new password" in mail["Subject"]
    [link] = re.findall(r"http://\S+/reset-password/(\S+)", text_of(mail, "plain"))
    assert f"/reset-password/{link}" in text_of(mail, "html")
    assert _confirm(link) == (204, None)

    assert signed_in.get("/api/v1/auth/me").status_code == 401  # every session ended
    assert _logs_in(user, NEW_PASSWORD)
    assert not _logs_in(user, PASSWORD)
    status, body = _confirm(link, "yet-another-passphrase-7")
    assert status == 400
    assert INVALID_LINK in str(body)
    assert "token" in str(body)


@pytest.mark.django_db
def test_an_address_without_an_account_gets_the_same_answer_and_no_mail() -> None:
    user = UserFactory.create()

    assert _request("nobody@example.org") == _request(user.email)
    assert OrmQ.objects.count() == 1  # one job, for the account only


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("require_postgres")
def test_with_the_mail_server_down_the_request_succeeds_and_the_job_retries(
    tmp_path: Path,
) -> None:
    user = UserFactory.create()

    assert _request(user.email)[0] == 202
    with running_worker(tmp_path / "worker.log", EMAIL_URL="smtp://127.0.0.1:9"):
        wait_until(Failure.objects.exists, timeout=30, what="the failed mail")

    [retry] = Schedule.objects.filter(func="core.jobs.run")
    assert "accounts.jobs.password_reset_mail" in retry.args
    assert str(user.pk) in retry.args and user.email not in retry.args


@pytest.mark.django_db
@pytest.mark.parametrize(
    "token", ["", "nonsense", "MQ.abc-def", "!!.x", "MQ", "Zm9v.1-2", "." * 150]
)
def test_a_bad_token_is_a_400_naming_the_token(token: str) -> None:
    UserFactory.create()

    status, body = _confirm(token)

    assert status == 400
    assert "token" in str(body)


@pytest.mark.django_db
def test_the_reset_page_sets_the_password_once_and_signs_everyone_out(
    client_for: Callable[[User], APIClient],
) -> None:
    user = UserFactory.create()
    signed_in = client_for(user)
    page = f"/reset-password/{password_reset_token(user)}"
    browser = Client()

    assert browser.get(page).status_code == 200
    mismatch = browser.post(page, {"new_password": NEW_PASSWORD, "new_password_again": "x"})
    assert mismatch.status_code == 400
    done = browser.post(page, {"new_password": NEW_PASSWORD, "new_password_again": NEW_PASSWORD})
    assert done.status_code == 302 and done["Location"] == "/login"

    assert _logs_in(user, NEW_PASSWORD)
    assert signed_in.get("/api/v1/auth/me").status_code == 401
    again = browser.get(page)
    assert again.status_code == 400
    assert INVALID_LINK in again.content.decode()


@pytest.mark.django_db
def test_the_request_page_answers_alike_for_any_address() -> None:
    user = UserFactory.create()
    answers = []
    for email in (user.email, "nobody@example.org"):
        browser = Client()
        response = browser.post("/password-reset", {"email": email}, follow=True)
        answers.append((response.status_code, RESET_REQUESTED in response.content.decode()))

    assert answers == [(200, True), (200, True)]
    assert "Forgot your password?" in Client().get("/login").content.decode()


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("require_postgres")
def test_a_link_used_twice_at_once_works_once() -> None:
    user = UserFactory.create()
    token = password_reset_token(user)
    statuses: list[int] = []

    def use(password: str) -> Callable[[], None]:
        return lambda: statuses.append(_confirm(token, password)[0])

    all_at_once([use("first-new-passphrase-1"), use("second-new-passphrase-2")])

    assert sorted(statuses) == [204, 400]

"""§14 in a real browser: a user who forgot the password asks for a link, opens it, sets a new
password and logs in with it. The mail job runs here, in the test, with Django's test outbox;
tests/accounts/test_password_reset.py sends it through a real worker and SMTP server."""

import re

import pytest
from django.core import mail
from django_q.models import OrmQ
from playwright.sync_api import Page, expect

from accounts.jobs import password_reset_mail
from tests.factories import UserFactory

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("sqlite_pass_only"),
]

NEW_PASSWORD = "a-fresh-browser-passphrase"


def test_a_forgotten_password_is_reset_from_the_mailed_link(page: Page, site: str) -> None:
    user = UserFactory.create(email="forgetful@browser.test")

    page.goto(f"{site}/login")
    page.get_by_role("link", name="Forgot your password?").click()
    page.get_by_label("Email").fill(user.email)
    page.get_by_role("button", name="Mail me a link").click()
    expect(page.get_by_text("a link to set a new password is on its way")).to_be_visible()

    [job] = OrmQ.objects.all()
    assert job.task["args"] == ("accounts.jobs.password_reset_mail", [user.pk], 1)
    password_reset_mail(user.pk)  # what the worker runs
    [link] = re.findall(r"http://\S+", str(mail.outbox[0].body))
    assert link.startswith(f"{site}/reset-password/")  # SITE_URL is the live server's
    page.goto(link)

    page.get_by_label(re.compile(r"^New password:?$")).fill(NEW_PASSWORD)
    page.get_by_label("New password again").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Set password").click()
    expect(page.get_by_text("Password set. Every session was signed out")).to_be_visible()

    page.get_by_label("Email").fill(user.email)
    page.get_by_label(re.compile(r"^Password:?$")).fill(NEW_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("button", name="Log out")).to_be_visible()

    page.goto(link)  # used once: it says so
    expect(page.get_by_text("This link is not valid")).to_be_visible()

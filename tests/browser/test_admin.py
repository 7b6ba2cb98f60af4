"""§9 in a real browser: an operator suspends a listing from the admin under our strict CSP,
and finds the act in the audit log."""

from typing import Any

import pytest
from playwright.sync_api import ConsoleMessage, Page, expect

from listings.models import Listing
from tests.factories import PASSWORD, UserFactory, make_listing

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("sqlite_pass_only"),
]


def test_an_operator_suspends_a_listing_and_sees_it_in_the_audit_log(
    page: Page, site: str, screenshot: Any
) -> None:
    csp_errors: list[str] = []
    page.on("console", lambda m: _collect_csp_error(m, csp_errors))
    operator = UserFactory.create(is_staff=True, is_superuser=True)
    listing = make_listing(service_name="Hourly forecast API")
    make_listing(service_name="Geocoding API")

    page.goto(f"{site}/admin/")
    page.get_by_label("Email").fill(operator.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Site administration")).to_be_visible()
    page.goto(f"{site}/admin/listings/listing/")
    page.get_by_role(
        "checkbox", name="Select this object for an action - Hourly forecast API"
    ).check()
    page.get_by_role("combobox", name="Action").select_option(label="Suspend selected listings")
    page.get_by_role("button", name="Run").click()

    expect(page.get_by_text("Suspended: 1 listing.")).to_be_visible()
    screenshot("admin-listings")
    assert Listing.objects.get(pk=listing.pk).status == "suspended"
    page.goto(f"{site}/admin/audit/auditentry/")
    expect(page.get_by_role("cell", name="Listing suspended")).to_be_visible()
    screenshot("admin-audit-log")
    assert not csp_errors, csp_errors


def _collect_csp_error(message: ConsoleMessage, errors: list[str]) -> None:
    if message.type == "error" and "Content Security Policy" in message.text:
        errors.append(message.text)

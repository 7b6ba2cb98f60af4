"""§8 in a real browser: sellers list, buyers buy, reveal and copy, sold out, dev checkout.

Debian's Chromium, driven by Playwright, against the live server; pages are found by their
labels and roles, as a person (or a screen reader) finds them.
"""

import re
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from accounts.models import User
from listings.models import Listing
from orders.models import Order
from tests.factories import PASSWORD as PASSWORD_OF_FACTORY_USERS
from tests.factories import UserFactory, make_listing, reveals

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("sqlite_pass_only"),
]

PASSWORD = "a-long-browser-passphrase"
SECRET = "geo-demo-credential-7Q2m"


def _sign_up(page: Page, site: str, email: str) -> None:
    page.goto(f"{site}/signup")
    page.get_by_label("Email").fill(email)
    page.get_by_label(re.compile(r"^Password:?$")).fill(PASSWORD)
    page.get_by_label("Password again").fill(PASSWORD)
    page.get_by_role("button", name="Sign up").click()
    # The same answer whether or not the address had an account (issue 14): then log in.
    expect(page.get_by_text("If this address had no account, it has one now")).to_be_visible()
    page.get_by_label("Email").fill(email)
    page.get_by_label(re.compile(r"^Password:?$")).fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("button", name="Log out")).to_be_visible()


def _buy(page: Page, units: int) -> None:
    page.get_by_label("Units").fill(str(units))
    page.get_by_role("button", name="Buy").click()


def test_a_seller_signs_up_and_lists_a_service(page: Page, site: str, screenshot: Any) -> None:
    _sign_up(page, site, "seller@browser.test")
    page.get_by_role("link", name="Sell", exact=True).click()
    page.get_by_role("link", name="New listing").click()

    page.get_by_label("Service name").fill("Geocoding API")
    page.get_by_label("Unit description").fill("per 1,000 lookups")
    page.get_by_label("Price per unit").fill("0.75")
    page.get_by_label("Shared: every unit delivers the same secret").check()
    page.get_by_label("Shared secret").fill(SECRET)
    page.get_by_label("Units on sale").fill("40")
    page.get_by_role("button", name="Create listing").click()

    page.get_by_role("link", name="Sell", exact=True).click()
    expect(page.get_by_role("cell", name="Geocoding API")).to_be_visible()
    assert SECRET not in page.content()
    screenshot("seller-dashboard")
    listing = Listing.objects.get(service_name="Geocoding API")
    assert (listing.seller.email, listing.available_units) == ("seller@browser.test", 40)
    assert listing.price_per_unit == Decimal("0.75")


def test_a_buyer_buys_then_reveals_and_copies_the_secret(
    browser: Browser, site: str, screenshot: Any, request: pytest.FixtureRequest
) -> None:
    listing = make_listing(units=10, price="0.50", secret=SECRET, service_name="Weather API")
    context = browser.new_context(permissions=["clipboard-read", "clipboard-write"])
    request.addfinalizer(context.close)  # frees the live server's keep-alive connection
    page = context.new_page()
    _sign_up(page, site, "buyer@browser.test")
    page.goto(site + "/")
    screenshot("home", page)

    page.get_by_role("link", name="Weather API").first.click()
    screenshot("listing-detail", page)
    _buy(page, 2)

    expect(page.get_by_role("heading", name="Order")).to_contain_text("Fulfilled")
    screenshot("order", page)
    page.get_by_role("link", name="My tokens").first.click()
    assert SECRET not in page.content()  # not in the page until revealed
    page.get_by_role("button", name="Reveal").first.click()
    secret = page.locator("code.secret")
    expect(secret).to_have_text(SECRET)
    screenshot("tokens", page)

    page.get_by_role("button", name="Copy").click()

    assert page.evaluate("navigator.clipboard.readText()") == SECRET
    assert reveals().filter(actor__email="buyer@browser.test").count() == 1
    listing.refresh_from_db()
    assert listing.available_units == 8


def test_a_second_buyer_meets_sold_out(signed_in_page: Callable[[], Page], site: str) -> None:
    listing = make_listing(units=1, price="1.00", service_name="Last Unit API")
    first, second = signed_in_page(), signed_in_page()
    for page in (first, second):
        page.goto(f"{site}/listings/{listing.pk}")

    _buy(first, 1)
    expect(first.get_by_role("heading", name="Order")).to_contain_text("Fulfilled")
    _buy(second, 1)  # the page was loaded while the unit was still on sale

    expect(second.get_by_text("sold out", exact=False).first).to_be_visible()
    assert Order.objects.filter(listing=listing).count() == 1
    second.reload()
    expect(second.get_by_role("button", name="Buy")).to_have_count(0)


def test_a_checkout_order_goes_through_the_dev_checkout_to_success(
    page: Page, site: str, settings: Any, screenshot: Any
) -> None:
    settings.DEBUG = True  # the dev checkout stands in for Stripe only in debug, without a key
    settings.STRIPE_SECRET_KEY = ""
    listing = make_listing(units=10, price="4.00", service_name="Climate Dataset")
    _sign_up(page, site, "card-buyer@browser.test")
    page.goto(f"{site}/listings/{listing.pk}")

    _buy(page, 3)

    expect(page.get_by_role("heading", name="Dev checkout")).to_be_visible()
    expect(page.get_by_text("12.00 USD").first).to_be_visible()
    screenshot("dev-checkout")
    page.get_by_role("button", name="Pay 12.00 USD").click()

    expect(page.get_by_text("Payment received")).to_be_visible()
    order = Order.objects.get(listing=listing)
    assert order.status == Order.Status.FULFILLED
    assert order.tokens.count() == 3


@pytest.fixture
def signed_in_page(browser: Browser, site: str) -> Iterator[Callable[[], Page]]:
    """Pages of fresh browser contexts (their own cookies), each signed in as a new buyer;
    closed afterwards so no keep-alive connection holds the live server's database."""
    contexts: list[BrowserContext] = []

    def open_page() -> Page:
        user: User = UserFactory.create()
        contexts.append(browser.new_context())
        page = contexts[-1].new_page()
        page.goto(f"{site}/login")
        page.get_by_label("Email").fill(user.email)
        page.get_by_label(re.compile(r"^Password:?$")).fill(PASSWORD_OF_FACTORY_USERS)
        page.get_by_role("button", name="Log in").click()
        expect(page.get_by_role("button", name="Log out")).to_be_visible()
        return page

    yield open_page
    for context in contexts:
        context.close()

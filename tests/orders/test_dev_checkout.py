"""SPEC §5 dev checkout: without STRIPE_SECRET_KEY and with DEBUG on, a local page stands in
for Stripe Checkout and completes or cancels the order through the webhook's own code path;
it is refused when debug is off or Stripe is configured.
"""

from collections.abc import Callable
from typing import Any

import pytest
from django.urls import resolve, reverse
from rest_framework.test import APIClient

from accounts.models import User
from orders.checkout_links import checkout_token, order_id_from_token
from orders.models import Order, StripeEvent
from tests.factories import make_listing
from tests.orders.helpers import available, checkout_order
from tests.stripe_fake import FakeStripe

pytestmark = pytest.mark.django_db

ORDERS = "/api/v1/orders"

Client = Callable[[User], APIClient]


@pytest.fixture
def dev_mode(settings: Any) -> None:
    settings.DEBUG = True
    settings.STRIPE_SECRET_KEY = ""
    settings.STRIPE_WEBHOOK_SECRET = ""


def _dev_path(order_id: int) -> str:
    return reverse("checkout-dev", kwargs={"token": checkout_token(order_id)})


def _sibling_page(order: dict[str, Any], name: str, settings: Any) -> str:
    """The page `name` for the same signed link as the order's checkout URL (tokens carry a
    timestamp, so one signed a second later would differ)."""
    token = resolve(order["checkout_url"].removeprefix(settings.SITE_URL)).kwargs["token"]
    return reverse(name, kwargs={"token": token})


@pytest.mark.usefixtures("dev_mode")
def test_checkout_url_points_at_the_local_dev_page(
    client_for: Client, buyer: User, settings: Any
) -> None:
    listing = make_listing(units=10, price="4.00", service_name="Dev Weather")

    order = checkout_order(client_for(buyer), listing)

    assert order["payment_requires_confirmation"] is True
    assert order["checkout_url"].startswith(settings.SITE_URL + "/checkout/")
    match = resolve(order["checkout_url"].removeprefix(settings.SITE_URL))
    assert match.url_name == "checkout-dev"
    assert order_id_from_token(match.kwargs["token"]) == order["id"]
    assert available(listing) == 7
    page = APIClient().get(order["checkout_url"].removeprefix(settings.SITE_URL))
    assert page.status_code == 200
    html = page.content.decode()
    assert "Dev Weather" in html
    assert "12.00" in html
    assert f"#{order['id']}" in html


@pytest.mark.usefixtures("dev_mode")
def test_paying_on_the_dev_page_fulfils_through_the_webhook_path(
    client_for: Client, buyer: User, settings: Any
) -> None:
    listing = make_listing(units=10, price="4.00")
    api = client_for(buyer)
    order = checkout_order(api, listing)
    path = order["checkout_url"].removeprefix(settings.SITE_URL)

    paid = APIClient().post(path, {"action": "pay"})

    success = _sibling_page(order, "checkout-success", settings)
    assert paid.status_code == 302
    assert paid["Location"] == success
    result = APIClient().get(success)
    assert result.status_code == 200
    assert "Payment received" in result.content.decode()
    shown = api.get(f"{ORDERS}/{order['id']}").json()
    assert shown["status"] == "fulfilled"
    assert shown["tokens_issued"] == 3
    tokens = api.get("/api/v1/tokens").json()["results"]
    assert [t["status"] for t in tokens] == ["live"] * 3
    assert available(listing) == 7
    [event] = StripeEvent.objects.filter(order_id=order["id"])
    assert (event.type, event.outcome) == ("checkout.session.completed", "fulfilled")

    APIClient().post(path, {"action": "pay"})  # paying twice issues nothing more

    assert api.get(f"{ORDERS}/{order['id']}").json()["tokens_issued"] == 3


@pytest.mark.usefixtures("dev_mode")
def test_cancelling_on_the_dev_page_releases_the_units(
    client_for: Client, buyer: User, settings: Any
) -> None:
    listing = make_listing(units=10, price="4.00")
    api = client_for(buyer)
    order = checkout_order(api, listing)
    page = APIClient()

    chose = page.post(order["checkout_url"].removeprefix(settings.SITE_URL), {"action": "cancel"})

    cancel = _sibling_page(order, "checkout-cancel", settings)
    assert chose.status_code == 302
    assert chose["Location"] == cancel
    assert available(listing) == 7  # going to the cancel page alone cancels nothing
    assert "held for you" in page.get(cancel).content.decode()

    cancelled = page.post(cancel)

    assert cancelled.status_code == 200
    assert "cancelled and its units released" in cancelled.content.decode()
    assert api.get(f"{ORDERS}/{order['id']}").json()["status"] == "cancelled"
    assert available(listing) == 7 + 3
    assert api.get("/api/v1/tokens").json()["count"] == 0


@pytest.mark.usefixtures("dev_mode")
def test_a_stale_dev_page_cannot_pay_a_cancelled_order(
    client_for: Client, buyer: User, settings: Any
) -> None:
    listing = make_listing(units=10, price="4.00")
    api = client_for(buyer)
    order = checkout_order(api, listing)
    assert api.post(f"{ORDERS}/{order['id']}/cancel").json()["status"] == "cancelled"

    # The buyer goes back to the payment page still open in another tab and pays.
    APIClient().post(order["checkout_url"].removeprefix(settings.SITE_URL), {"action": "pay"})

    shown = api.get(f"{ORDERS}/{order['id']}").json()
    assert shown["status"] == "cancelled"
    assert shown["tokens_issued"] == 0
    assert available(listing) == 10


@pytest.mark.usefixtures("dev_mode")
def test_dev_page_is_refused_when_debug_is_off(
    client_for: Client, buyer: User, settings: Any
) -> None:
    listing = make_listing(units=10, price="4.00")
    api = client_for(buyer)
    order = checkout_order(api, listing)
    settings.DEBUG = False

    assert APIClient().get(_dev_path(order["id"])).status_code == 404
    assert APIClient().post(_dev_path(order["id"]), {"action": "pay"}).status_code == 404
    assert Order.objects.get(pk=order["id"]).status == "awaiting_payment"
    assert api.get("/api/v1/tokens").json()["count"] == 0


def test_dev_page_is_refused_when_stripe_is_configured(
    fake_stripe: FakeStripe, client_for: Client, buyer: User, settings: Any
) -> None:
    settings.DEBUG = True
    listing = make_listing(units=10, price="4.00")
    api = client_for(buyer)
    order = checkout_order(api, listing)  # a real Stripe session: must be paid on Stripe

    assert APIClient().get(_dev_path(order["id"])).status_code == 404
    assert APIClient().post(_dev_path(order["id"]), {"action": "pay"}).status_code == 404
    assert Order.objects.get(pk=order["id"]).status == "awaiting_payment"
    assert api.get("/api/v1/tokens").json()["count"] == 0
    assert not StripeEvent.objects.exists()


@pytest.mark.usefixtures("dev_mode")
def test_a_tampered_or_unknown_link_is_404(client_for: Client, buyer: User) -> None:
    listing = make_listing(units=10, price="4.00")
    api = client_for(buyer)
    order = checkout_order(api, listing)
    token = checkout_token(order["id"])
    tampered = token[:-1] + ("A" if token[-1] != "A" else "B")

    for name in ("checkout-dev", "checkout-success", "checkout-cancel"):
        assert APIClient().get(reverse(name, kwargs={"token": tampered})).status_code == 404
    assert APIClient().post(_dev_path(order["id"] + 1000), {"action": "pay"}).status_code == 404
    assert APIClient().post(
        reverse("checkout-dev", kwargs={"token": tampered}), {"action": "pay"}
    ).status_code == (404)
    assert Order.objects.get(pk=order["id"]).status == "awaiting_payment"
    assert api.get("/api/v1/tokens").json()["count"] == 0

"""Issue 14, class 8: a retried checkout order answers with a usable checkout URL, or a 409
that says to retry; never a 201 without a URL while its units stay held.

The first request commits the reserved order, then asks Stripe for the Checkout Session and
records its URL. A retry with the same Idempotency-Key that arrives in between (a concurrent
retry, or one after the first worker died) finds the order without a URL.
"""

import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from django.core import signing
from django.test import Client
from django.utils import timezone
from pytest_httpserver import HTTPServer
from rest_framework.test import APIClient

from accounts.models import User
from listings.models import Listing
from orders import services
from orders.models import Order
from tests.factories import UserFactory, bearer_token, make_listing
from tests.orders.helpers import ORDERS, available
from tests.stripe_fake import FakeStripe
from tests.threads import all_at_once

ApiClient = Callable[[User], APIClient]
CREATE_SESSION = ("POST", "/v1/checkout/sessions")
KEY = "the-same-key"


def _buy(api: APIClient, listing: Listing, units: int = 3, key: str = KEY) -> Any:
    return api.post(
        ORDERS, {"listing_id": listing.pk, "units": units}, format="json", HTTP_IDEMPOTENCY_KEY=key
    )


def _assert_usable_or_retry(response: Any, order_id: int | None = None) -> None:
    """201 with the order and where to pay it, or 409 saying to retry."""
    body = response.json()
    if response.status_code == 409:
        assert body["code"] == "checkout_pending", body
        assert "retry" in body["detail"].lower(), body
        return
    assert response.status_code == 201, body
    assert body["status"] == "awaiting_payment", body
    assert body["checkout_url"], body
    if order_id is not None:
        assert body["id"] == order_id


def _forget_the_session(order_id: int) -> None:
    """The order row as the first request committed it, before it recorded its session: the
    worker died between the commit and the write."""
    updated = Order.objects.filter(pk=order_id).update(checkout_session_id="", checkout_url="")
    assert updated == 1


# --- A retry after the first worker died ------------------------------------------------


@pytest.mark.django_db
def test_a_retry_after_the_worker_died_before_calling_stripe_opens_the_checkout(
    fake_stripe: FakeStripe, client_for: ApiClient, buyer: User
) -> None:
    listing = make_listing(units=10, price="4.00")
    api = client_for(buyer)
    first = _buy(api, listing).json()
    _forget_the_session(first["id"])
    fake_stripe.reset()  # Stripe never heard of it either

    retried = _buy(api, listing)

    _assert_usable_or_retry(retried, first["id"])
    assert retried.status_code == 201
    assert retried.headers["Idempotent-Replayed"] == "true"
    session = fake_stripe.session_for(first["id"])
    assert retried.json()["checkout_url"] == session["url"]
    assert Order.objects.get(pk=first["id"]).checkout_session_id == session["id"]
    assert available(listing) == 7
    assert Order.objects.filter(buyer=buyer).count() == 1


@pytest.mark.django_db
def test_a_retry_after_the_worker_died_after_stripe_answered_gets_the_same_session(
    fake_stripe: FakeStripe,
    client_for: ApiClient,
    buyer: User,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Stripe created the session; the worker died before recording it. A minute later the
    retry asks Stripe again under the same idempotency key with the same parameters, so
    Stripe answers with that session instead of refusing the key (or opening a second
    session the buyer could pay twice)."""
    listing = make_listing(units=10, price="4.00")
    api = client_for(buyer)
    first = _buy(api, listing).json()
    _forget_the_session(first["id"])
    a_minute_later = time.time() + 60
    monkeypatch.setattr(signing, "time", SimpleNamespace(time=lambda: a_minute_later))
    monkeypatch.setattr(
        services,
        "timezone",
        SimpleNamespace(now=lambda: timezone.now() + timedelta(minutes=1)),
    )

    retried = _buy(api, listing)

    _assert_usable_or_retry(retried, first["id"])
    assert retried.status_code == 201
    assert retried.json()["checkout_url"] == first["checkout_url"]
    assert len(fake_stripe.sessions) == 1
    assert fake_stripe.calls.count(CREATE_SESSION) == 2
    assert available(listing) == 7


@pytest.mark.django_db
def test_a_page_resubmitted_after_the_worker_died_goes_on_to_the_checkout(
    fake_stripe: FakeStripe, client: Client, buyer: User
) -> None:
    listing = make_listing(units=10, price="4.00")
    client.force_login(buyer)
    form = {"units": 3, "idempotency_key": "5f0c6f3e-8f55-4c6e-9d55-0c6a1d2f0b9e"}
    first = client.post(f"/listings/{listing.pk}/buy", form)
    assert first.status_code == 302
    order = Order.objects.get(buyer=buyer)
    assert first["Location"] == order.checkout_url
    _forget_the_session(order.pk)

    again = client.post(f"/listings/{listing.pk}/buy", form)

    assert again.status_code == 302
    order.refresh_from_db()
    assert order.checkout_url
    assert again["Location"] == order.checkout_url == first["Location"]
    assert available(listing) == 7


@pytest.mark.django_db
def test_a_retry_while_stripe_is_down_gives_the_units_back_and_frees_the_key(
    fake_stripe: FakeStripe, client_for: ApiClient, buyer: User
) -> None:
    listing = make_listing(units=10, price="4.00")
    api = client_for(buyer)
    first = _buy(api, listing).json()
    _forget_the_session(first["id"])
    fake_stripe.reset()
    fake_stripe.down = True

    retried = _buy(api, listing)

    assert retried.status_code == 503, retried.content
    assert "nothing was charged" in retried.json()["detail"]
    assert available(listing) == 10
    assert Order.objects.get(pk=first["id"]).status == "expired"

    fake_stripe.down = False
    again = _buy(api, listing)  # the same key now buys afresh
    _assert_usable_or_retry(again)
    assert again.status_code == 201
    assert again.json()["id"] != first["id"]
    assert available(listing) == 7


# --- Concurrent retries on PostgreSQL ---------------------------------------------------


@pytest.fixture
def slow_stripe(settings: Any) -> Iterator[FakeStripe]:
    """A fake Stripe on its own threaded server (the shared one answers one request at a
    time), taking a second to create each Checkout Session."""
    server = HTTPServer(host="127.0.0.1", port=0, threaded=True)
    server.start()
    fake = FakeStripe(server=server, create_delay=1.0)
    for name, value in fake.settings().items():
        setattr(settings, name, value)
    yield fake
    server.clear()
    server.stop()


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("require_postgres")
def test_concurrent_retries_answer_with_the_checkout_url_or_a_409_to_retry(
    slow_stripe: FakeStripe,
) -> None:
    listing = make_listing(units=10, price="4.00")
    token = bearer_token(UserFactory.create())
    responses: list[Any] = []

    def post() -> None:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
        responses.append(_buy(client, listing))

    all_at_once([post] * 8, timeout=60)

    [order] = Order.objects.filter(listing=listing)
    for response in responses:
        _assert_usable_or_retry(response, order.pk)
    assert any(response.status_code == 201 for response in responses)
    assert len(slow_stripe.sessions) == 1
    assert available(listing) == 7

    # Whoever was told to retry gets the checkout now.
    slow_stripe.create_delay = 0
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    retried = _buy(client, listing)
    _assert_usable_or_retry(retried, order.pk)
    assert retried.status_code == 201
    assert retried.json()["checkout_url"] == slow_stripe.session_for(order.pk)["url"]

"""Bad order input never gives a 500 and never moves stock (SPEC §5 Orders, §7 status codes).

Every request here is refused with 400 (naming the field when it is a field error), 409 (a
state conflict) or 415 (a body that is not JSON at all), and afterwards the listing still has
every unit and no order or token exists that did not exist before.
"""

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from rest_framework.test import APIClient

from accounts.models import User
from listings.models import Listing
from orders.models import Order
from tests.factories import make_listing
from tokens_vault.models import Token

pytestmark = pytest.mark.django_db

ORDERS = "/api/v1/orders"
UNITS = 3


@pytest.fixture
def listing(seller: User) -> Listing:
    return make_listing(seller=seller, units=UNITS, price="1.00")


@pytest.fixture
def buyer_api(client_for: Callable[[User], APIClient], buyer: User) -> APIClient:
    return client_for(buyer)


@contextmanager
def nothing_changes(listing: Listing) -> Iterator[None]:
    """Assert that the block leaves stock, orders and tokens exactly as they were."""
    orders, tokens = Order.objects.count(), Token.objects.count()
    yield
    listing.refresh_from_db()
    assert listing.available_units == UNITS
    assert listing.units_sold == 0
    assert Order.objects.count() == orders
    assert Token.objects.count() == tokens


_MISSING = object()  # a parameter value meaning "leave this key out of the body"


def _body(listing: Listing, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"listing_id": listing.pk, "units": 1}
    for key, value in overrides.items():
        if value is _MISSING:
            body.pop(key)
        else:
            body[key] = value
    return body


@pytest.mark.parametrize(
    "units",
    [0, -1, 10**30, 1.5, "two", "", None, True, [1], {"n": 1}, "9" * 2000, _MISSING],
    ids=[
        "zero",
        "negative",
        "huge",
        "fraction",
        "word",
        "empty-string",
        "null",
        "boolean",
        "list",
        "object",
        "very-long-string",
        "missing",
    ],
)
def test_bad_units_are_a_400_on_units(buyer_api: APIClient, listing: Listing, units: Any) -> None:
    with nothing_changes(listing):
        response = buyer_api.post(ORDERS, _body(listing, units=units), format="json")
    assert response.status_code == 400, response.content
    assert list(response.json()) == ["units"]


def test_more_units_than_the_per_order_cap_is_a_400(buyer_api: APIClient, seller: User) -> None:
    big = make_listing(seller=seller, units=5000, price="0.01")
    response = buyer_api.post(ORDERS, {"listing_id": big.pk, "units": 1001}, format="json")
    assert response.status_code == 400
    assert "units" in response.json()
    big.refresh_from_db()
    assert big.available_units == 5000
    assert not Order.objects.exists()


@pytest.mark.parametrize(
    "listing_id",
    [999_999_999, 0, -1, 2**70, "abc", "1; DROP TABLE orders_order", None, 1.5, _MISSING],
    ids=["unknown", "zero", "negative", "huge", "word", "sql", "null", "fraction", "missing"],
)
def test_bad_listing_id_is_a_400_on_listing_id(
    buyer_api: APIClient, listing: Listing, listing_id: Any
) -> None:
    with nothing_changes(listing):
        response = buyer_api.post(ORDERS, _body(listing, listing_id=listing_id), format="json")
    assert response.status_code == 400, response.content
    assert list(response.json()) == ["listing_id"]


@pytest.mark.parametrize(
    ("raw", "content_type", "status"),
    [
        ('{"listing_id": 1, "units": ', "application/json", 400),
        ('{"listing_id": 1, "units": NaN}', "application/json", 400),
        ("[1, 2]", "application/json", 400),
        ('"buy me one"', "application/json", 400),
        ("", "application/json", 400),
        ("\xff\xfe not utf-8", "application/json", 400),
        ("listing_id=1&units=1", "application/x-www-form-urlencoded", 415),
        ("listing_id=1&units=1", "text/plain", 415),
    ],
    ids=[
        "truncated-json",
        "nan",
        "json-array",
        "json-string",
        "empty-body",
        "not-utf8",
        "form-encoded",
        "text-plain",
    ],
)
def test_malformed_bodies_are_refused(
    buyer_api: APIClient, listing: Listing, raw: str, content_type: str, status: int
) -> None:
    """Only a JSON object is an order; anything else is 400, or 415 for other media types."""
    payload = raw.replace('"listing_id": 1', f'"listing_id": {listing.pk}').encode("latin-1")
    with nothing_changes(listing):
        response = buyer_api.post(ORDERS, payload, content_type=content_type)
    assert response.status_code == status, response.content
    assert response.json()  # a JSON error body, not an HTML error page


@pytest.mark.parametrize(
    "key",
    ["k" * 256, "clé-de-commande", "key\twith\ttabs", "line\nbreak", ""],
    ids=["over-long", "non-ascii", "control-characters", "newline", "empty"],
)
def test_bad_idempotency_keys_are_a_400(buyer_api: APIClient, listing: Listing, key: str) -> None:
    with nothing_changes(listing):
        response = buyer_api.post(
            ORDERS, _body(listing), format="json", headers={"Idempotency-Key": key}
        )
    assert response.status_code == 400, response.content
    assert list(response.json()) == ["Idempotency-Key"]


def test_longest_allowed_idempotency_key_is_accepted(
    buyer_api: APIClient, listing: Listing
) -> None:
    """The 400 above is about the key's length, not about having a key at all."""
    response = buyer_api.post(
        ORDERS, _body(listing), format="json", headers={"Idempotency-Key": "k" * 255}
    )
    assert response.status_code == 201, response.content


def test_reusing_an_idempotency_key_with_a_different_body_is_a_409(
    buyer_api: APIClient, listing: Listing
) -> None:
    headers = {"Idempotency-Key": "order-7f3a"}
    first = buyer_api.post(ORDERS, _body(listing, units=1), format="json", headers=headers)
    assert first.status_code == 201, first.content
    listing.refresh_from_db()
    assert listing.available_units == UNITS - 1

    second = buyer_api.post(ORDERS, _body(listing, units=2), format="json", headers=headers)

    assert second.status_code == 409, second.content
    assert second.json()["code"] == "idempotency_key_reused"
    listing.refresh_from_db()
    assert listing.available_units == UNITS - 1
    assert Order.objects.count() == 1
    assert Token.objects.count() == 1


def test_ordering_more_units_than_available_is_a_409_saying_how_many_are_left(
    buyer_api: APIClient, listing: Listing
) -> None:
    with nothing_changes(listing):
        response = buyer_api.post(ORDERS, _body(listing, units=UNITS + 1), format="json")
    assert response.status_code == 409, response.content
    body = response.json()
    assert body["code"] == "insufficient_units"
    assert f"Only {UNITS} units left" in body["detail"]


def test_the_last_unit_is_one_unit_left(buyer_api: APIClient, seller: User) -> None:
    last = make_listing(seller=seller, units=1)
    response = buyer_api.post(ORDERS, _body(last, units=2), format="json")
    assert response.status_code == 409, response.content
    assert response.json()["detail"] == "Only 1 unit left; you asked for 2."


def test_ordering_from_a_sold_out_listing_is_a_409(buyer_api: APIClient, listing: Listing) -> None:
    assert buyer_api.post(ORDERS, _body(listing, units=UNITS), format="json").status_code == 201
    listing.refresh_from_db()
    orders = Order.objects.count()

    response = buyer_api.post(ORDERS, _body(listing, units=1), format="json")

    assert response.status_code == 409, response.content
    assert response.json()["code"] == "insufficient_units"
    assert "sold out" in response.json()["detail"]
    listing.refresh_from_db()
    assert listing.available_units == 0
    assert Order.objects.count() == orders


def test_buying_your_own_listing_is_a_409(
    client_for: Callable[[User], APIClient], seller: User, listing: Listing
) -> None:
    with nothing_changes(listing):
        response = client_for(seller).post(ORDERS, _body(listing), format="json")
    assert response.status_code == 409, response.content
    assert response.json()["code"] == "listing_unavailable"


@pytest.mark.parametrize(
    "status", [Listing.Status.PAUSED, Listing.Status.SUSPENDED, Listing.Status.PENDING_REVIEW]
)
def test_a_listing_not_on_sale_is_a_409(
    buyer_api: APIClient, listing: Listing, status: str
) -> None:
    Listing.objects.filter(pk=listing.pk).update(status=status)
    with nothing_changes(listing):
        response = buyer_api.post(ORDERS, _body(listing), format="json")
    assert response.status_code == 409, response.content
    assert response.json()["code"] == "listing_unavailable"

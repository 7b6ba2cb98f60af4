"""Creating and changing listings: validation and the seller's happy paths (SPEC §3, §7).

Bad input is a 400 naming the field (409 for a state conflict), never a 500, and creates
nothing: no listing, no sealed secret, no seller profile.
"""

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from django.test import override_settings
from rest_framework.test import APIClient

from accounts.models import SellerProfile, User
from listings.models import Listing, PoolSecret
from tests.factories import UserFactory, make_listing
from tokens_vault.models import Secret

pytestmark = pytest.mark.django_db

LISTINGS = "/api/v1/listings"

SHARED: dict[str, Any] = {
    "service_name": "Geocoding API",
    "description": "Forward and reverse geocoding",
    "unit_description": "per 1000 lookups",
    "price_per_unit": "0.75",
    "delivery_mode": "shared",
    "secret": "geo-key-7f3a9c21",
    "units": 50,
}
POOL: dict[str, Any] = {
    "service_name": "Licence keys",
    "unit_description": "one licence",
    "price_per_unit": "4.00",
    "delivery_mode": "pool",
    "secrets": ["lic-aaaa-0001", "lic-aaaa-0002", "lic-aaaa-0003"],
}
_MISSING = object()


def _with(body: dict[str, Any], **overrides: Any) -> dict[str, Any]:
    changed = dict(body)
    for key, value in overrides.items():
        if value is _MISSING:
            changed.pop(key, None)
        else:
            changed[key] = value
    return changed


@pytest.fixture
def seller_api(client_for: Callable[[User], APIClient], seller: User) -> APIClient:
    return client_for(seller)


@contextmanager
def nothing_created() -> Iterator[None]:
    counts = (Listing, PoolSecret, Secret, SellerProfile)
    before = [model.objects.count() for model in counts]
    yield
    assert [model.objects.count() for model in counts] == before


# --- Create: bad input --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (_with(SHARED, price_per_unit="-1.00"), "price_per_unit"),
        (_with(SHARED, price_per_unit="0"), "price_per_unit"),
        (_with(SHARED, price_per_unit="0.00"), "price_per_unit"),
        (_with(SHARED, price_per_unit="1.005"), "price_per_unit"),
        (_with(SHARED, price_per_unit="100000000.00"), "price_per_unit"),
        (_with(SHARED, price_per_unit="1e400"), "price_per_unit"),
        (_with(SHARED, price_per_unit="NaN"), "price_per_unit"),
        (_with(SHARED, price_per_unit="Infinity"), "price_per_unit"),
        (_with(SHARED, price_per_unit="ten"), "price_per_unit"),
        (_with(SHARED, price_per_unit=None), "price_per_unit"),
        (_with(SHARED, service_name="x" * 121), "service_name"),
        (_with(SHARED, service_name="   "), "service_name"),
        (_with(SHARED, service_name="nul\x00byte"), "service_name"),
        (_with(SHARED, unit_description="u" * 121), "unit_description"),
        (_with(SHARED, description="d" * 5001), "description"),
        (_with(SHARED, service_name=_MISSING), "service_name"),
        (_with(SHARED, unit_description=_MISSING), "unit_description"),
        (_with(SHARED, price_per_unit=_MISSING), "price_per_unit"),
        (_with(SHARED, delivery_mode=_MISSING), "delivery_mode"),
        (_with(SHARED, delivery_mode="bulk"), "delivery_mode"),
        (_with(SHARED, currency="XYZ"), "currency"),
        (_with(SHARED, secret=_MISSING), "secret"),
        (_with(SHARED, secret="   "), "secret"),
        (_with(SHARED, secret="s" * 4097), "secret"),
        (_with(SHARED, units=_MISSING), "units"),
        (_with(SHARED, units=-1), "units"),
        (_with(SHARED, units=10**30), "units"),
        (_with(SHARED, units="many"), "units"),
        (_with(SHARED, secrets=["a", "b"]), "secrets"),
        (_with(POOL, units=3), "units"),
        (_with(POOL, secret="one-secret"), "secret"),
        (_with(POOL, secrets=["dup-0001", "dup-0002", "dup-0001"]), "secrets"),
        (_with(POOL, secrets=["dup-0001", " dup-0001 "]), "secrets"),
        (_with(POOL, secrets=["ok-0001", ""]), "secrets"),
        (_with(POOL, secrets=["ok-0001", "nul\x00byte"]), "secrets"),
        (_with(POOL, secrets=["ok-0001", None]), "secrets"),
        (_with(POOL, secrets="not-a-list"), "secrets"),
        (_with(SHARED, endpoint_url="not a url"), "endpoint_url"),
        (_with(SHARED, endpoint_url="javascript:alert(1)"), "endpoint_url"),
        (_with(SHARED, endpoint_url="https://" + "a" * 500 + ".test"), "endpoint_url"),
    ],
    ids=[
        "negative-price",
        "zero-price",
        "zero-price-2dp",
        "three-decimal-price",
        "price-too-large",
        "price-exponent-overflow",
        "price-nan",
        "price-infinity",
        "price-word",
        "price-null",
        "name-121-chars",
        "name-blank",
        "name-nul-byte",
        "unit-description-too-long",
        "description-too-long",
        "missing-name",
        "missing-unit-description",
        "missing-price",
        "missing-delivery-mode",
        "unknown-delivery-mode",
        "unknown-currency",
        "shared-without-secret",
        "shared-blank-secret",
        "shared-secret-too-long",
        "shared-without-units",
        "shared-negative-units",
        "shared-huge-units",
        "shared-units-word",
        "shared-with-secret-list",
        "pool-with-units",
        "pool-with-single-secret",
        "pool-duplicate-secrets",
        "pool-duplicate-after-trimming",
        "pool-empty-secret",
        "pool-nul-byte-secret",
        "pool-null-secret",
        "pool-secrets-not-a-list",
        "bad-endpoint-url",
        "javascript-endpoint-url",
        "over-long-endpoint-url",
    ],
)
def test_bad_listing_is_a_400_naming_the_field(
    seller_api: APIClient, body: dict[str, Any], field: str
) -> None:
    with nothing_created():
        response = seller_api.post(LISTINGS, body, format="json")
    assert response.status_code == 400, response.content
    assert field in response.json(), response.json()


@pytest.mark.parametrize(
    ("raw", "status"), [("[]", 400), ('"listing"', 400), ("{", 400), ("", 400)]
)
def test_a_body_that_is_not_a_json_object_is_a_400(
    seller_api: APIClient, raw: str, status: int
) -> None:
    with nothing_created():
        response = seller_api.post(LISTINGS, raw, content_type="application/json")
    assert response.status_code == status, response.content


def test_anonymous_cannot_create_a_listing(api: APIClient, db: None) -> None:
    with nothing_created():
        response = api.post(LISTINGS, SHARED, format="json")
    assert response.status_code == 401


# --- Pool uploads -------------------------------------------------------------------------


def test_uploading_a_secret_already_in_the_pool_is_a_400(seller_api: APIClient) -> None:
    listing = seller_api.post(LISTINGS, POOL, format="json").json()
    secrets_before = Secret.objects.count()

    response = seller_api.post(
        f"{LISTINGS}/{listing['id']}/secrets",
        {"secrets": ["lic-bbbb-0001", "lic-aaaa-0002"]},
        format="json",
    )

    assert response.status_code == 400, response.content
    assert "secrets" in response.json()
    assert Secret.objects.count() == secrets_before  # not even the new one was stored
    assert Listing.objects.get(pk=listing["id"]).available_units == 3


@pytest.mark.parametrize(
    "body",
    [{"secrets": []}, {"secrets": [""]}, {"secrets": ["x", "x"]}, {"secrets": "x"}, {}],
    ids=["empty-list", "blank-secret", "duplicates", "not-a-list", "missing"],
)
def test_bad_pool_uploads_are_a_400(seller_api: APIClient, body: dict[str, Any]) -> None:
    listing = seller_api.post(LISTINGS, POOL, format="json").json()
    with nothing_created():
        response = seller_api.post(f"{LISTINGS}/{listing['id']}/secrets", body, format="json")
    assert response.status_code == 400, response.content
    assert "secrets" in response.json()
    assert Listing.objects.get(pk=listing["id"]).available_units == 3


def test_uploading_secrets_to_a_shared_listing_is_a_409(seller_api: APIClient) -> None:
    listing = seller_api.post(LISTINGS, SHARED, format="json").json()
    with nothing_created():
        response = seller_api.post(
            f"{LISTINGS}/{listing['id']}/secrets", {"secrets": ["extra-0001"]}, format="json"
        )
    assert response.status_code == 409, response.content
    assert Listing.objects.get(pk=listing["id"]).available_units == SHARED["units"]


def test_uploading_to_an_unknown_listing_is_a_404(seller_api: APIClient, db: None) -> None:
    with nothing_created():
        response = seller_api.post(f"{LISTINGS}/999999/secrets", {"secrets": ["x"]}, format="json")
    assert response.status_code == 404


# --- Update: bad input --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"status": "suspended"}, "status"),
        ({"status": "pending_review"}, "status"),
        ({"status": "sold_out"}, "status"),
        ({"price_per_unit": "-2.00"}, "price_per_unit"),
        ({"price_per_unit": "0"}, "price_per_unit"),
        ({"price_per_unit": "1.999"}, "price_per_unit"),
        ({"price_per_unit": None}, "price_per_unit"),
        ({"service_name": "n" * 121}, "service_name"),
        ({"service_name": ""}, "service_name"),
        ({"units": -5}, "units"),
        ({"units": 1.5}, "units"),
        ({"secret": ""}, "secret"),
        ({"currency": "BTC"}, "currency"),
        ({"endpoint_url": "ftp//broken"}, "endpoint_url"),
        # Fields the API does not take are refused, not silently ignored.
        ({"available_units": 99}, "available_units"),
        ({"delivery_mode": "pool"}, "delivery_mode"),
        ({"seller": 1}, "seller"),
    ],
    ids=lambda value: str(value) if not isinstance(value, dict) else next(iter(value)),
)
def test_bad_update_is_a_400_and_changes_nothing(
    seller_api: APIClient, seller: User, changes: dict[str, Any], field: str
) -> None:
    listing = make_listing(seller=seller, units=7, price="2.00")
    before = Listing.objects.filter(pk=listing.pk).values().get()

    response = seller_api.patch(f"{LISTINGS}/{listing.pk}", changes, format="json")

    assert response.status_code == 400, response.content
    assert field in response.json(), response.json()
    assert Listing.objects.filter(pk=listing.pk).values().get() == before


def test_changing_a_pool_listings_units_directly_is_a_400(
    seller_api: APIClient, seller: User
) -> None:
    listing = make_listing(seller=seller, pool=["p-0001", "p-0002"])
    response = seller_api.patch(f"{LISTINGS}/{listing.pk}", {"units": 40}, format="json")
    assert response.status_code == 400
    assert "units" in response.json()
    listing.refresh_from_db()
    assert listing.available_units == 2


def test_seller_cannot_unsuspend_a_suspended_listing(seller_api: APIClient, seller: User) -> None:
    listing = make_listing(seller=seller)
    Listing.objects.filter(pk=listing.pk).update(status=Listing.Status.SUSPENDED)

    response = seller_api.patch(f"{LISTINGS}/{listing.pk}", {"status": "active"}, format="json")

    assert response.status_code == 409, response.content
    listing.refresh_from_db()
    assert listing.status == Listing.Status.SUSPENDED


# --- Happy paths ----------------------------------------------------------------------------


def test_create_shared_listing(seller_api: APIClient, seller: User) -> None:
    response = seller_api.post(LISTINGS, SHARED, format="json")

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["delivery_mode"] == "shared"
    assert body["status"] == "active"
    assert body["available_units"] == SHARED["units"]
    assert body["price_per_unit"] == "0.75"
    assert body["currency"] == "USD"
    assert body["seller"]["id"] == seller.pk
    assert "secret" not in body
    assert SHARED["secret"] not in response.content.decode()
    listing = Listing.objects.get(pk=body["id"])
    assert listing.seller == seller
    # Stored sealed: the plaintext is nowhere in the row.
    assert listing.shared_secret is not None
    assert SHARED["secret"].encode() not in bytes(listing.shared_secret.ciphertext)


def test_create_pool_listing_counts_its_secrets(seller_api: APIClient) -> None:
    response = seller_api.post(LISTINGS, POOL, format="json")

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["delivery_mode"] == "pool"
    assert body["available_units"] == len(POOL["secrets"])
    assert "secrets" not in body
    assert PoolSecret.objects.filter(listing_id=body["id"]).count() == len(POOL["secrets"])


def test_uploading_more_pool_secrets_grows_available_units(
    seller_api: APIClient, client_for: Callable[[User], APIClient]
) -> None:
    listing = seller_api.post(LISTINGS, POOL, format="json").json()
    url = f"{LISTINGS}/{listing['id']}"

    response = seller_api.post(
        f"{url}/secrets", {"secrets": ["lic-bbbb-0001", "lic-bbbb-0002"]}, format="json"
    )

    assert response.status_code == 201, response.content
    assert response.json()["available_units"] == 5
    anyone = client_for(UserFactory.create())
    assert anyone.get(url).json()["available_units"] == 5


def _buy_one(client: APIClient, listing_id: int) -> int:
    response = client.post("/api/v1/orders", {"listing_id": listing_id, "units": 1}, format="json")
    return response.status_code


def test_restock_a_shared_listing(
    seller_api: APIClient, seller: User, client_for: Callable[[User], APIClient]
) -> None:
    listing = make_listing(seller=seller, units=1, price="1.00")
    buyer = client_for(UserFactory.create())
    assert _buy_one(buyer, listing.pk) == 201
    assert buyer.get(f"{LISTINGS}/{listing.pk}").json()["status"] == "sold_out"

    response = seller_api.patch(f"{LISTINGS}/{listing.pk}", {"units": 25}, format="json")

    assert response.status_code == 200, response.content
    assert response.json()["available_units"] == 25
    assert response.json()["status"] == "active"
    assert _buy_one(buyer, listing.pk) == 201


def test_seller_edits_details(seller_api: APIClient, seller: User) -> None:
    listing = make_listing(seller=seller, price="1.00")
    response = seller_api.patch(
        f"{LISTINGS}/{listing.pk}",
        {"price_per_unit": "2.50", "service_name": "Weather API v2"},
        format="json",
    )
    assert response.status_code == 200, response.content
    listing.refresh_from_db()
    assert str(listing.price_per_unit) == "2.50"
    assert listing.service_name == "Weather API v2"


def test_paused_listing_is_hidden_from_others_but_not_from_its_seller(
    seller_api: APIClient, seller: User, client_for: Callable[[User], APIClient], api: APIClient
) -> None:
    listing = make_listing(seller=seller, service_name="Pausable API")
    url = f"{LISTINGS}/{listing.pk}"

    response = seller_api.patch(url, {"status": "paused"}, format="json")

    assert response.status_code == 200, response.content
    assert response.json()["status"] == "paused"
    other = client_for(UserFactory.create())
    for viewer in (other, api):
        assert viewer.get(url).status_code == 404
        assert listing.pk not in [row["id"] for row in viewer.get(LISTINGS).json()["results"]]
    assert seller_api.get(url).status_code == 200
    assert listing.pk in [row["id"] for row in seller_api.get(LISTINGS).json()["results"]]

    assert seller_api.patch(url, {"status": "active"}, format="json").status_code == 200
    assert other.get(url).status_code == 200


@override_settings(LISTING_REVIEW="pre")
def test_pre_review_makes_new_listings_pending_and_hidden(
    seller_api: APIClient, client_for: Callable[[User], APIClient], api: APIClient
) -> None:
    response = seller_api.post(LISTINGS, SHARED, format="json")

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["status"] == "pending_review"
    url = f"{LISTINGS}/{body['id']}"
    for viewer in (client_for(UserFactory.create()), api):
        assert viewer.get(url).status_code == 404
        assert viewer.get(LISTINGS).json()["count"] == 0
    assert seller_api.get(url).json()["status"] == "pending_review"
    # The seller cannot approve their own listing.
    approve = seller_api.patch(url, {"status": "active"}, format="json")
    assert approve.status_code == 409
    assert Listing.objects.get(pk=body["id"]).status == Listing.Status.PENDING_REVIEW

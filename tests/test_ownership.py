"""Owner-scoped access: nobody reads or changes what is not theirs (SPEC §2, §6, §7).

Someone else's order, token or session is a 404 (its existence is not revealed); someone
else's visible listing is a 403 to change; a request without a session is a 401.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from rest_framework.test import APIClient

from accounts.models import ApiSession, User
from listings.models import Listing
from orders.models import Order
from tests.factories import UserFactory, bearer_token, make_listing
from tokens_vault.models import Token

pytestmark = pytest.mark.django_db


@dataclass
class Purchase:
    listing: Listing
    order_id: int
    token_id: int


@pytest.fixture
def purchase(client_for: Callable[[User], APIClient], buyer: User, seller: User) -> Purchase:
    """`buyer` bought one unit of `seller`'s shared listing through the API."""
    listing = make_listing(seller=seller, units=5, price="1.00", secret="owner-only-secret-42")
    response = client_for(buyer).post(
        "/api/v1/orders", {"listing_id": listing.pk, "units": 1}, format="json"
    )
    assert response.status_code == 201, response.content
    order_id = response.json()["id"]
    token = Token.objects.get(order_id=order_id)
    return Purchase(listing=listing, order_id=order_id, token_id=token.pk)


@pytest.fixture
def stranger(client_for: Callable[[User], APIClient], db: None) -> APIClient:
    return client_for(UserFactory.create())


def _ids(response: Any) -> list[int]:
    assert response.status_code == 200, response.content
    return [row["id"] for row in response.json()["results"]]


def test_others_cannot_read_my_order(
    client_for: Callable[[User], APIClient], buyer: User, stranger: APIClient, purchase: Purchase
) -> None:
    mine = client_for(buyer)
    assert mine.get(f"/api/v1/orders/{purchase.order_id}").status_code == 200
    assert _ids(mine.get("/api/v1/orders")) == [purchase.order_id]

    assert stranger.get(f"/api/v1/orders/{purchase.order_id}").status_code == 404
    assert purchase.order_id not in _ids(stranger.get("/api/v1/orders"))
    assert stranger.get("/api/v1/orders").json()["count"] == 0


def test_the_seller_reads_a_sale_only_through_sales(
    client_for: Callable[[User], APIClient], seller: User, purchase: Purchase
) -> None:
    """The seller is not the buyer: the order is not theirs, the sale is."""
    seller_api = client_for(seller)
    assert seller_api.get(f"/api/v1/orders/{purchase.order_id}").status_code == 404
    assert purchase.order_id in _ids(seller_api.get("/api/v1/sales"))


def test_others_cannot_read_my_tokens(
    client_for: Callable[[User], APIClient], buyer: User, stranger: APIClient, purchase: Purchase
) -> None:
    mine = client_for(buyer).get(f"/api/v1/tokens/{purchase.token_id}")
    assert mine.status_code == 200
    assert mine.json()["secret"] == "owner-only-secret-42"

    response = stranger.get(f"/api/v1/tokens/{purchase.token_id}")
    assert response.status_code == 404
    assert "owner-only-secret-42" not in response.content.decode()
    listed = stranger.get("/api/v1/tokens")
    assert purchase.token_id not in _ids(listed)
    assert "owner-only-secret-42" not in listed.content.decode()


def test_others_cannot_revoke_my_token(stranger: APIClient, purchase: Purchase) -> None:
    response = stranger.post(f"/api/v1/tokens/{purchase.token_id}/revoke")
    assert response.status_code == 404
    assert Token.objects.get(pk=purchase.token_id).revoked_at is None


def test_others_cannot_edit_my_listing(stranger: APIClient, purchase: Purchase) -> None:
    listing = purchase.listing
    for changes in ({"price_per_unit": "0.01"}, {"status": "paused"}, {"units": 1000}):
        response = stranger.patch(f"/api/v1/listings/{listing.pk}", changes, format="json")
        assert response.status_code == 403, response.content
    fresh = Listing.objects.get(pk=listing.pk)
    assert fresh.price_per_unit == listing.price_per_unit
    assert fresh.status == Listing.Status.ACTIVE
    assert fresh.available_units == 4


def test_others_cannot_see_or_edit_my_hidden_listing(
    stranger: APIClient, purchase: Purchase
) -> None:
    """A paused listing does not exist for others: a 404, not a 403 that reveals it."""
    Listing.objects.filter(pk=purchase.listing.pk).update(status=Listing.Status.PAUSED)
    response = stranger.patch(
        f"/api/v1/listings/{purchase.listing.pk}", {"status": "active"}, format="json"
    )
    assert response.status_code == 404
    assert Listing.objects.get(pk=purchase.listing.pk).status == Listing.Status.PAUSED


def test_others_cannot_upload_to_my_pool(
    client_for: Callable[[User], APIClient], seller: User, stranger: APIClient
) -> None:
    pool = make_listing(seller=seller, pool=["pool-0001", "pool-0002"])

    response = stranger.post(
        f"/api/v1/listings/{pool.pk}/secrets", {"secrets": ["planted-0001"]}, format="json"
    )

    assert response.status_code == 403, response.content
    pool.refresh_from_db()
    assert pool.available_units == 2
    assert pool.pool_secrets.count() == 2


def test_others_cannot_revoke_my_sessions(
    client_for: Callable[[User], APIClient], buyer: User, stranger: APIClient
) -> None:
    token = bearer_token(buyer)
    session = ApiSession.objects.get(user=buyer)

    assert stranger.delete(f"/api/v1/auth/sessions/{session.pk}").status_code == 404

    session.refresh_from_db()
    assert session.revoked_at is None
    mine = APIClient()
    mine.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    assert mine.get("/api/v1/auth/me").status_code == 200
    sessions = stranger.get("/api/v1/auth/sessions").json()["results"]
    assert session.pk not in [row["id"] for row in sessions]


@pytest.mark.parametrize("path", ["/api/v1/orders/{huge}", "/api/v1/tokens/{huge}"])
def test_an_id_beyond_any_integer_column_is_a_404(stranger: APIClient, path: str) -> None:
    assert stranger.get(path.format(huge=2**70)).status_code == 404


def test_sales_list_only_orders_of_my_listings(
    client_for: Callable[[User], APIClient], seller: User, purchase: Purchase
) -> None:
    other_seller = UserFactory.create()
    elsewhere = make_listing(seller=other_seller, units=5, price="1.00")
    other_buyer = client_for(UserFactory.create())
    response = other_buyer.post(
        "/api/v1/orders", {"listing_id": elsewhere.pk, "units": 2}, format="json"
    )
    assert response.status_code == 201
    elsewhere_order = response.json()["id"]

    mine = client_for(seller).get("/api/v1/sales")
    theirs = client_for(other_seller).get("/api/v1/sales")

    assert _ids(mine) == [purchase.order_id]
    assert _ids(theirs) == [elsewhere_order]
    sale = mine.json()["results"][0]
    assert sale["buyer_id"] == Order.objects.get(pk=purchase.order_id).buyer_id
    assert "owner-only-secret-42" not in mine.content.decode()
    # A buyer with no listings has no sales.
    assert other_buyer.get("/api/v1/sales").json()["count"] == 0


PRIVATE_ENDPOINTS = [
    ("get", "/api/v1/auth/me"),
    ("patch", "/api/v1/auth/me"),
    ("post", "/api/v1/auth/logout"),
    ("post", "/api/v1/auth/password"),
    ("get", "/api/v1/auth/sessions"),
    ("delete", "/api/v1/auth/sessions/{session}"),
    ("post", "/api/v1/listings"),
    ("patch", "/api/v1/listings/{listing}"),
    ("post", "/api/v1/listings/{listing}/secrets"),
    ("get", "/api/v1/orders"),
    ("post", "/api/v1/orders"),
    ("get", "/api/v1/orders/{order}"),
    ("get", "/api/v1/sales"),
    ("get", "/api/v1/tokens"),
    ("get", "/api/v1/tokens/{token}"),
    ("post", "/api/v1/tokens/{token}/revoke"),
]


def _anonymous_request(
    purchase: Purchase, method: str, path: str, authorization: str | None
) -> None:
    client = APIClient()
    if authorization is not None:
        client.credentials(HTTP_AUTHORIZATION=authorization)
    url = path.format(
        session=ApiSession.objects.get().pk,
        listing=purchase.listing.pk,
        order=purchase.order_id,
        token=purchase.token_id,
    )
    body = {"listing_id": purchase.listing.pk, "units": 1, "status": "paused"}
    before = (Order.objects.count(), Token.objects.filter(revoked_at=None).count())

    response = getattr(client, method)(url, body, format="json")

    assert response.status_code == 401, response.content
    assert response["WWW-Authenticate"] == "Bearer"
    assert (Order.objects.count(), Token.objects.filter(revoked_at=None).count()) == before
    assert Listing.objects.get(pk=purchase.listing.pk).status == Listing.Status.ACTIVE
    assert ApiSession.objects.get().revoked_at is None


@pytest.mark.parametrize(("method", "path"), PRIVATE_ENDPOINTS)
def test_private_endpoints_need_a_session(purchase: Purchase, method: str, path: str) -> None:
    _anonymous_request(purchase, method, path, authorization=None)


@pytest.mark.parametrize(
    "authorization",
    ["Bearer", "Bearer agora_s_not-a-real-token", "Bearer x y", "Token abc", "Bearer é"],
    ids=["no-token", "unknown-token", "extra-part", "other-scheme", "non-ascii"],
)
@pytest.mark.parametrize(
    ("method", "path"), [("get", "/api/v1/orders"), ("post", "/api/v1/orders")]
)
def test_a_bad_authorization_header_is_a_401(
    purchase: Purchase, method: str, path: str, authorization: str
) -> None:
    _anonymous_request(purchase, method, path, authorization)

"""SPEC §4 and §6: who sees a secret, every reveal audited, revoking ends the reveals."""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from rest_framework.test import APIClient

from accounts.models import User
from listings.models import Listing
from tests.factories import UserFactory, make_listing, reveals

pytestmark = pytest.mark.django_db

SECRET = "wx-live-9d8c7b6a5f4e"
ClientFor = Callable[[User], APIClient]


@dataclass
class Purchase:
    listing: Listing
    order_id: int
    token_ids: list[int]


@pytest.fixture
def purchase(client_for: ClientFor, buyer: User, seller: User) -> Purchase:
    """The buyer bought 2 units of the seller's shared listing."""
    listing = make_listing(seller=seller, units=5, price="0.50", secret=SECRET)
    order = client_for(buyer).post(
        "/api/v1/orders", {"listing_id": listing.pk, "units": 2}, format="json"
    )
    assert order.status_code == 201, order.content
    token_ids = [t.pk for t in buyer.tokens.order_by("pk")]
    assert len(token_ids) == 2
    return Purchase(listing=listing, order_id=order.json()["id"], token_ids=token_ids)


def _revoke(client: APIClient, token_id: int) -> int:
    return client.post(f"/api/v1/tokens/{token_id}/revoke").status_code


def test_every_reveal_is_written_to_the_audit_log(
    client_for: ClientFor, buyer: User, purchase: Purchase
) -> None:
    assert not reveals().exists()  # buying is not revealing
    client = client_for(buyer)
    origin: dict[str, Any] = {"REMOTE_ADDR": "203.0.113.7", "HTTP_USER_AGENT": "audit-check/1.0"}

    listed = client.get("/api/v1/tokens", **origin)
    assert [t["secret"] for t in listed.json()["results"]] == [SECRET, SECRET]
    one = client.get(f"/api/v1/tokens/{purchase.token_ids[0]}", **origin)
    assert one.json()["secret"] == SECRET

    audits = reveals()
    assert sorted(int(a.target_id) for a in audits) == sorted(
        [*purchase.token_ids, purchase.token_ids[0]]
    )
    assert {(a.actor_id, a.ip, a.user_agent) for a in audits} == {
        (buyer.pk, "203.0.113.7", "audit-check/1.0")
    }
    assert all(a.created_at is not None for a in audits)


def test_seller_revokes_and_the_token_no_longer_reveals(
    client_for: ClientFor, buyer: User, seller: User, purchase: Purchase
) -> None:
    revoked, live = purchase.token_ids
    response = client_for(seller).post(f"/api/v1/tokens/{revoked}/revoke")
    assert response.status_code == 200
    assert response.json()["status"] == "revoked"
    assert response.json()["secret"] is None

    tokens = {t["id"]: t for t in client_for(buyer).get("/api/v1/tokens").json()["results"]}
    assert (tokens[revoked]["status"], tokens[revoked]["secret"]) == ("revoked", None)
    assert (tokens[live]["status"], tokens[live]["secret"]) == ("live", SECRET)
    detail = client_for(buyer).get(f"/api/v1/tokens/{revoked}")
    assert detail.json()["secret"] is None
    assert SECRET.encode() not in detail.content
    assert list(reveals().values_list("target_id", flat=True)) == [str(live)]


def test_only_the_seller_or_an_operator_may_revoke(
    client_for: ClientFor, buyer: User, purchase: Purchase
) -> None:
    first, second = purchase.token_ids
    assert _revoke(client_for(buyer), first) == 403
    assert _revoke(client_for(UserFactory.create()), first) == 404
    assert client_for(buyer).get(f"/api/v1/tokens/{first}").json()["secret"] == SECRET

    assert _revoke(client_for(UserFactory.create(is_staff=True)), second) == 200
    assert client_for(buyer).get(f"/api/v1/tokens/{second}").json()["secret"] is None


def test_another_users_token_is_not_found(client_for: ClientFor, purchase: Purchase) -> None:
    response = client_for(UserFactory.create()).get(f"/api/v1/tokens/{purchase.token_ids[0]}")
    assert response.status_code == 404
    assert SECRET.encode() not in response.content
    assert not reveals().exists()


def test_seller_sees_the_sale_but_not_the_secret(
    client_for: ClientFor, buyer: User, seller: User, purchase: Purchase
) -> None:
    response = client_for(seller).get("/api/v1/sales")
    assert response.status_code == 200
    [sale] = response.json()["results"]
    assert (sale["id"], sale["buyer_id"], sale["units"]) == (purchase.order_id, buyer.pk, 2)
    assert sorted(sale["token_ids"]) == purchase.token_ids
    assert "secret" not in sale
    assert SECRET.encode() not in response.content
    assert client_for(buyer).get("/api/v1/sales").json()["count"] == 0


def test_changed_shared_secret_is_what_existing_buyers_reveal(
    client_for: ClientFor, buyer: User, seller: User, purchase: Purchase
) -> None:
    rotated = "wx-live-rotated-1a2b3c4d"
    response = client_for(seller).patch(
        f"/api/v1/listings/{purchase.listing.pk}", {"secret": rotated}, format="json"
    )
    assert response.status_code == 200, response.content
    assert rotated.encode() not in response.content

    tokens = client_for(buyer).get("/api/v1/tokens")
    assert [t["secret"] for t in tokens.json()["results"]] == [rotated, rotated]
    assert SECRET.encode() not in tokens.content

"""The whole API flow of SPEC §7: register, log in, list, buy, reveal, log out."""

from collections.abc import Callable
from decimal import Decimal

import pytest
from rest_framework.test import APIClient

from accounts.models import User
from orders.models import Order
from tests.factories import make_listing

pytestmark = pytest.mark.django_db


def _login(api: APIClient, email: str, password: str) -> str:
    response = api.post("/api/v1/auth/login", {"email": email, "password": password}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["expires_at"]
    return response.json()["session_token"]


def test_register_login_list_buy_reveal_logout(api: APIClient) -> None:
    password = "a-long-enough-passphrase"
    for email in ("seller@example.test", "buyer@example.test"):
        response = api.post(
            "/api/v1/auth/register", {"email": email, "password": password}, format="json"
        )
        assert response.status_code == 202, response.content

    seller = APIClient()
    seller.credentials(HTTP_AUTHORIZATION=f"Bearer {_login(api, 'seller@example.test', password)}")
    created = seller.post(
        "/api/v1/listings",
        {
            "service_name": "Geocoding API",
            "unit_description": "per 1000 lookups",
            "price_per_unit": "0.75",
            "delivery_mode": "shared",
            "secret": "geo-key-7f3a9c21",
            "units": 3,
        },
        format="json",
    )
    assert created.status_code == 201, created.content
    listing = created.json()
    assert "secret" not in listing

    buyer_token = _login(api, "BUYER@example.test", password)  # email is case-insensitive
    buyer = APIClient()
    buyer.credentials(HTTP_AUTHORIZATION=f"Bearer {buyer_token}")
    assert buyer.get(f"/api/v1/listings/{listing['id']}").json()["available_units"] == 3

    order = buyer.post("/api/v1/orders", {"listing_id": listing["id"], "units": 2}, format="json")
    assert order.status_code == 201, order.content
    body = order.json()
    assert body["status"] == "fulfilled"
    assert body["total_price"] == "1.50"
    assert body["payment_requires_confirmation"] is False
    assert body["tokens_issued"] == 2

    tokens = buyer.get("/api/v1/tokens").json()
    assert tokens["count"] == 2
    assert {t["secret"] for t in tokens["results"]} == {"geo-key-7f3a9c21"}
    assert buyer.get(f"/api/v1/listings/{listing['id']}").json()["available_units"] == 1

    assert buyer.post("/api/v1/auth/logout").status_code == 204
    assert buyer.get("/api/v1/tokens").status_code == 401
    assert buyer.get("/api/v1/orders").status_code == 401


@pytest.mark.usefixtures("fake_stripe")  # 7.70 goes through checkout
@pytest.mark.parametrize(
    ("price", "units", "total"),
    [("0.10", 3, "0.30"), ("0.07", 3, "0.21"), ("0.35", 7, "2.45"), ("1.10", 7, "7.70")],
)
def test_a_total_binary_floating_point_cannot_write_exactly_is_sold(
    client_for: Callable[[User], APIClient], buyer: User, price: str, units: int, total: str
) -> None:
    """SQLite, the demo database, multiplies decimals in binary floating point, where 0.10 x 3
    is 0.30000000000000004: the order total's check refused such orders with a 500."""
    listing = make_listing(units=10, price=price)

    response = client_for(buyer).post(
        "/api/v1/orders", {"listing_id": listing.pk, "units": units}, format="json"
    )

    assert response.status_code == 201, response.content
    assert response.json()["total_price"] == total
    assert Order.objects.get(pk=response.json()["id"]).total_price == Decimal(total)

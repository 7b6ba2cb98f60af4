"""The whole API flow of SPEC §7: register, log in, list, buy, reveal, log out."""

import pytest
from rest_framework.test import APIClient

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
        assert response.status_code == 201, response.content

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

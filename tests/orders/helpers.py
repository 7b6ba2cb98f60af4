"""Small steps the order tests share."""

from typing import Any

from rest_framework.test import APIClient

from listings.models import Listing

ORDERS = "/api/v1/orders"


def available(listing: Listing) -> int:
    """The listing's units on sale now, read fresh from the database."""
    listing.refresh_from_db()
    return listing.available_units


def checkout_order(api: APIClient, listing: Listing, units: int = 3) -> dict[str, Any]:
    """An order on the checkout path (its total is above SMALL_ORDER_LIMIT)."""
    response = api.post(ORDERS, {"listing_id": listing.pk, "units": units}, format="json")
    assert response.status_code == 201, response.content
    order: dict[str, Any] = response.json()
    assert order["status"] == "awaiting_payment"
    return order

"""Each request body is checked on its own: a refusal says exactly what was wrong with that
body, and a good body after a bad one is bought."""

from collections.abc import Callable

import pytest
from rest_framework.test import APIClient

from accounts.models import User
from tests.factories import make_listing

pytestmark = pytest.mark.django_db


def test_each_order_body_gets_its_own_answer(
    client_for: Callable[[User], APIClient], buyer: User
) -> None:
    api_client = client_for(buyer)
    listing = make_listing()
    bodies = [
        {"listing_id": listing.pk, "units": "2"},
        {"listing_id": listing.pk, "units": 2},
        {"listing_id": listing.pk},
        {"units": 1, "listing": listing.pk},
        {"listing_id": listing.pk, "units": 1},
    ]

    answers = [api_client.post("/api/v1/orders", body, format="json") for body in bodies]
    null = api_client.post("/api/v1/orders", "null", content_type="application/json")

    assert [a.status_code for a in answers] == [400, 201, 400, 400, 201]
    assert null.json() == {"non_field_errors": ["No data provided"]}
    assert answers[0].json() == {"units": ["A valid integer is required."]}
    assert answers[2].json() == {"units": ["This field is required."]}
    assert answers[3].json() == {"listing": ["Unknown field."]}
    assert [answers[1].json()["units"], answers[4].json()["units"]] == [2, 1]

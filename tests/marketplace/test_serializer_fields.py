"""Serializers built once: fields once per class, yet each serializer binds its own copies;
one shared serializer per class for output and for checking request bodies."""

from collections.abc import Callable

import pytest
from rest_framework.test import APIClient

from accounts.models import User
from marketplace import api
from orders.apis import OrderSerializer
from orders.selectors import order_get
from orders.services import order_create
from tests.factories import UserFactory, make_listing

pytestmark = pytest.mark.django_db


def test_a_serializer_from_the_built_fields_says_what_a_freshly_built_one_says() -> None:
    outcome = order_create(buyer=UserFactory.create(), listing_id=make_listing().pk, units=2)
    order = order_get(order_id=outcome.order.pk)
    api._BUILT_FIELDS.pop(OrderSerializer, None)

    fresh = OrderSerializer(order).data  # builds the fields from the model
    assert OrderSerializer in api._BUILT_FIELDS
    reused = OrderSerializer(order)  # copies them

    assert reused.data == fresh
    assert reused.data["tokens_issued"] == 2
    assert reused.fields["status"] is not OrderSerializer(order).fields["status"]
    assert reused.fields["status"].parent is reused


def test_the_shared_serializer_says_what_a_new_one_says_for_each_order() -> None:
    buyer = UserFactory.create()
    orders = [
        order_get(order_id=order_create(buyer=buyer, listing_id=listing.pk, units=n).order.pk)
        for n, listing in enumerate([make_listing(), make_listing(price="2.50")], start=1)
    ]

    represented = [OrderSerializer.represent(order) for order in orders]

    assert represented == [OrderSerializer(order).data for order in orders]
    assert [row["units"] for row in represented] == [1, 2]
    assert represented[1]["total_price"] == "5.00"


def test_one_shared_checker_gives_each_order_body_its_own_answer(
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

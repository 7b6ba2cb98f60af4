"""FieldsBuiltOnce: fields built once per class, yet each serializer binds its own copies."""

import pytest

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

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

"""What the token list says of each token, from only the columns it loads."""

from collections.abc import Callable

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from accounts.models import User
from listings.models import Listing
from orders.services import order_create
from tests.factories import UserFactory, make_listing
from tokens_vault import selectors, services
from tokens_vault.apis import TokenSerializer

pytestmark = pytest.mark.django_db

ClientFor = Callable[[User], APIClient]


def _buy(buyer: User, units: int) -> None:
    listing = make_listing(units=units, price="0.10")
    Listing.objects.filter(pk=listing.pk).update(endpoint_url="https://api.example.test/v1")
    order_create(buyer=buyer, listing_id=listing.pk, units=units)


def test_each_token_says_its_status_listing_and_secret_only_when_revealed(buyer: User) -> None:
    _buy(buyer, units=3)
    revoked, live, unrevealed = selectors.token_list_for_owner(owner=buyer)
    services.token_revoke(token_id=revoked.pk, actor=UserFactory.create(is_staff=True))
    revoked = selectors.token_get_for_owner(owner=buyer, token_id=revoked.pk)
    context = {"revealed": {live.pk: "the-plaintext", revoked.pk: None}}

    for token in (revoked, live, unrevealed):
        assert list(TokenSerializer(token, context=context).data) == TokenSerializer.Meta.fields
    assert TokenSerializer(unrevealed, context=context).data["secret"] is None

    shown = {t.pk: TokenSerializer(t, context=context).data for t in (revoked, live)}
    assert (shown[revoked.pk]["status"], shown[revoked.pk]["secret"]) == ("revoked", None)
    assert shown[revoked.pk]["revoked_at"].endswith("Z")
    assert (shown[live.pk]["status"], shown[live.pk]["secret"]) == ("live", "the-plaintext")
    assert shown[live.pk]["endpoint_url"] == "https://api.example.test/v1"


def test_the_token_list_makes_as_many_queries_for_many_tokens_as_for_one(
    client_for: ClientFor, buyer: User
) -> None:
    """A column the list shows but does not load would cost a query per token."""
    client = client_for(buyer)
    _buy(buyer, units=1)
    client.get("/api/v1/tokens")  # the session's first use also records when it was used
    with CaptureQueriesContext(connection) as one:
        assert client.get("/api/v1/tokens").status_code == 200
    for _ in range(3):
        _buy(buyer, units=2)
    with CaptureQueriesContext(connection) as seven:
        listed = client.get("/api/v1/tokens")

    assert len(listed.json()["results"]) == 7
    assert all(t["secret"] and t["service_name"] for t in listed.json()["results"])
    assert len(seven.captured_queries) == len(one.captured_queries)

"""SPEC §5: two buyers can never get the same last unit, and a retried order buys only once.

Real threads, each with its own PostgreSQL connection, go through the real API at the same
moment (a Barrier releases them together). SQLite has no row locks, so these tests skip there.
"""

import time
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

import pytest
from rest_framework.test import APIClient

from listings.models import Listing
from orders.models import Order
from tests.factories import UserFactory, bearer_token, make_listing
from tests.threads import all_at_once
from tokens_vault.models import Token

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("require_postgres")]

Request = Callable[[APIClient], Any]


def _client(token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


def _race(tokens: Sequence[str], request: Request) -> list[Any]:
    """Run `request` once per token, all threads released at the same instant."""
    clients = [_client(token) for token in tokens]
    responses: list[Any] = [None] * len(tokens)

    def send(index: int) -> Callable[[], None]:
        def run() -> None:
            responses[index] = request(clients[index])

        return run

    all_at_once([send(index) for index in range(len(tokens))], timeout=30)
    return responses


def _buy(listing: Listing, units: int = 1, **headers: Any) -> Request:
    return lambda client: client.post(
        "/api/v1/orders", {"listing_id": listing.pk, "units": units}, format="json", **headers
    )


def _assert_clean_sold_out(responses: list[Any], winners: int) -> None:
    statuses = Counter(response.status_code for response in responses)
    assert statuses == {201: winners, 409: len(responses) - winners}, statuses
    for response in responses:
        if response.status_code == 409:
            assert response.json() == {
                "detail": "This listing is sold out.",
                "code": "insufficient_units",
            }
        else:
            assert response.json()["status"] == "fulfilled"
            assert response.json()["tokens_issued"] == 1


def test_25_buyers_race_for_7_units_of_a_shared_listing() -> None:
    listing = make_listing(units=7, price="0.50")
    tokens = [bearer_token(b) for b in UserFactory.create_batch(25)]

    started = time.perf_counter()
    responses = _race(tokens, _buy(listing))
    elapsed = time.perf_counter() - started
    print(f"\n25 buyers racing for 7 units: {elapsed:.3f}s")

    _assert_clean_sold_out(responses, winners=7)
    body = APIClient().get(f"/api/v1/listings/{listing.pk}").json()
    assert body["available_units"] == 0
    assert body["units_sold"] == 7
    assert body["status"] == "sold_out"
    assert Order.objects.filter(listing=listing).count() == 7
    assert Token.objects.filter(order__listing=listing).count() == 7
    winners = {r.json()["id"] for r in responses if r.status_code == 201}
    assert len(winners) == 7


def test_30_buyers_race_for_a_pool_of_10_secrets_each_delivered_once() -> None:
    pool = [f"pool-secret-{n:02d}-{n * 7919:06d}" for n in range(10)]
    listing = make_listing(pool=pool, price="0.25")
    tokens = [bearer_token(b) for b in UserFactory.create_batch(30)]

    responses = _race(tokens, _buy(listing))

    _assert_clean_sold_out(responses, winners=10)
    winners = [token for token, r in zip(tokens, responses, strict=True) if r.status_code == 201]
    delivered = [
        item["secret"]
        for token in winners
        for item in _client(token).get("/api/v1/tokens").json()["results"]
    ]
    assert sorted(delivered) == sorted(pool)  # every secret once, none twice, none lost
    assert Token.objects.filter(order__listing=listing).count() == 10  # losers got nothing
    listing.refresh_from_db()
    assert listing.available_units == 0


@pytest.mark.parametrize("stock", [5, 2], ids=["plenty-left", "buying-the-last-units"])
def test_same_idempotency_key_from_10_threads_buys_once(stock: int) -> None:
    listing = make_listing(units=stock, price="1.00")
    token = bearer_token(UserFactory.create())

    responses = _race([token] * 10, _buy(listing, units=2, HTTP_IDEMPOTENCY_KEY="retry-42"))

    assert [r.status_code for r in responses] == [201] * 10, [r.content for r in responses]
    assert len({r.json()["id"] for r in responses}) == 1
    assert sum(r.headers.get("Idempotent-Replayed") == "true" for r in responses) == 9
    assert Order.objects.filter(listing=listing).count() == 1
    assert Token.objects.filter(order__listing=listing).count() == 2
    listing.refresh_from_db()
    assert listing.available_units == stock - 2

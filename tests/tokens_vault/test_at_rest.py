"""SPEC §4 and STYLE §8: the database never holds a plaintext secret or a raw session token.

After a whole purchase flow, every value of every table is read back and searched for the
secrets (also hex- and base64-encoded) and for the session tokens the API handed out.
"""

import base64
from collections.abc import Iterator

import pytest
from django.db import connection
from rest_framework.test import APIClient

from tests.factories import PASSWORD, UserFactory, bearer_token

pytestmark = pytest.mark.django_db

SHARED_SECRET = "shared-plaintext-Q7x9w2kL"
POOL_SECRETS = ["pool-plaintext-A1b2C3d4", "pool-plaintext-E5f6G7h8", "pool-plaintext-J9k0L1m2"]


def _database_dump() -> Iterator[tuple[str, bytes]]:
    """(table.column, value as bytes) for every value of every table."""
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names():
            # Table names come from the database's own catalogue, quoted: no injection here.
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")  # noqa: S608
            columns = [column[0] for column in cursor.description]
            for row in cursor.fetchall():
                for column, value in zip(columns, row, strict=True):
                    if isinstance(value, memoryview | bytes | bytearray):
                        yield f"{table}.{column}", bytes(value)
                    elif value is not None:
                        yield f"{table}.{column}", str(value).encode()


def _encodings(text: str) -> list[bytes]:
    raw = text.encode()
    return [raw, raw.hex().encode(), raw.hex().upper().encode(), base64.b64encode(raw)]


def _client(token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


def test_no_plaintext_secret_or_session_token_is_stored() -> None:
    seller_user, buyer_user = UserFactory.create(), UserFactory.create()
    seller_token = bearer_token(seller_user)
    seller = _client(seller_token)
    listing = {"unit_description": "per call", "price_per_unit": "0.40"}
    shared = seller.post(
        "/api/v1/listings",
        {**listing, "service_name": "Shared API", "delivery_mode": "shared", "units": 5}
        | {"secret": SHARED_SECRET},
        format="json",
    )
    pool = seller.post(
        "/api/v1/listings",
        {**listing, "service_name": "Pool API", "delivery_mode": "pool", "secrets": POOL_SECRETS},
        format="json",
    )
    assert (shared.status_code, pool.status_code) == (201, 201), (shared.content, pool.content)

    login = APIClient().post(
        "/api/v1/auth/login", {"email": buyer_user.email, "password": PASSWORD}, format="json"
    )
    assert login.status_code == 200, login.content
    buyer_token = login.json()["session_token"]
    buyer = _client(buyer_token)
    for created in (shared, pool):
        order = buyer.post(
            "/api/v1/orders", {"listing_id": created.json()["id"], "units": 2}, format="json"
        )
        assert order.status_code == 201, order.content
    revealed = [t["secret"] for t in buyer.get("/api/v1/tokens").json()["results"]]
    assert sorted(revealed) == sorted([SHARED_SECRET] * 2 + POOL_SECRETS[:2])

    dump = list(_database_dump())
    everything = b"\n".join(value for _, value in dump)
    assert buyer_user.email.encode() in everything  # the dump does see this flow's rows
    assert b"Pool API" in everything
    forbidden: dict[str, list[str]] = {
        "secret": [SHARED_SECRET, *POOL_SECRETS],
        "session token": [buyer_token, seller_token],
    }
    for kind, texts in forbidden.items():
        for text in texts:
            for needle in _encodings(text):
                leaks = [where for where, value in dump if needle in value]
                assert not leaks, f"{kind} {text[:6]}… stored in {leaks}"

"""§7: schemathesis fuzzes every API operation and checks each answer against the schema.

The schema is read from `/api/v1/schema/` and every operation is called in-process through
the WSGI application, as a user with a real Bearer session who sells, buys and has sales.
All of schemathesis's default checks run on every answer: never a 5xx; the status code,
content type, headers and body as documented; bad input refused, valid input accepted; auth
enforced where the schema says it is required. One check is waived, case by case: "valid
input accepted" for a 400 that names only fields whose rules a JSON Schema cannot state
(RULES_BEYOND_THE_SCHEMA, e.g. a password too common) or a NUL character.

Each example runs inside a savepoint that is rolled back, with the cache cleared (login and
API rate limits, the browse cache), so every example meets the same seeded rows and none is
throttled by the ones before it. Hypothesis is derandomized so CI always runs the same
examples.

Not fuzzed: `POST /api/v1/payments/stripe/webhook`. It trusts nothing without Stripe's
signature over the raw body, so generated bodies would only ever meet its 400; its behaviour
is tested with signed events in tests/orders/test_webhooks.py.
"""

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import schemathesis
from django.core.cache import cache
from django.core.signals import request_finished, request_started
from django.db import close_old_connections, transaction
from hypothesis import HealthCheck, settings
from rest_framework.test import APIClient
from schemathesis.checks import CheckFunction
from schemathesis.specs.openapi.checks import positive_data_acceptance

from accounts.models import User
from listings.services import listing_update
from marketplace.wsgi import application
from orders.services import order_create
from tests.factories import UserFactory, bearer_token, make_listing
from tests.stripe_fake import FakeStripe

pytestmark = pytest.mark.django_db

schema = schemathesis.openapi.from_wsgi("/api/v1/schema/", application).exclude(
    path="/api/v1/payments/stripe/webhook"
)

URL_RULE = "Django's URL check (http/https/ftp, a valid host name) is stricter than `uri`"
TRIMMED = "blank once surrounding spaces are trimmed"
# Rules a JSON Schema cannot state, by operation and field: a request the schema allows may
# still be refused with a 400 naming these fields (and only these). Any other 400 for a
# request the schema allows fails the test.
RULES_BEYOND_THE_SCHEMA = {
    "POST /api/v1/auth/register": {
        "email": f"Django's email check (stricter than `email`), not {TRIMMED}",
        "password": "Django's password validators (too common, all digits, like the email)",
    },
    "POST /api/v1/auth/login": {"email": TRIMMED},
    "POST /api/v1/auth/password": {
        "current_password": "must be the user's password",
        "new_password": "Django's password validators",
    },
    "PATCH /api/v1/auth/me": {"display_name": TRIMMED},
    "POST /api/v1/auth/verify-email/confirm": {"token": "must be a live address-check token"},
    "POST /api/v1/auth/password-reset/confirm": {
        "token": "must be a live reset token from the mailed link",
        "new_password": "Django's password validators",
    },
    "GET /api/v1/listings": {"max_price": "not below min_price"},
    "POST /api/v1/listings": {
        "service_name": TRIMMED,
        "unit_description": TRIMMED,
        "endpoint_url": URL_RULE,
        "secret": f"required for shared listings, refused for pool ones; not {TRIMMED}",
        "secrets": f"required for pool listings, refused for shared ones; distinct; none {TRIMMED}",
        "units": "required for shared listings, refused for pool ones",
    },
    "PATCH /api/v1/listings/{listing_id}": {
        "service_name": TRIMMED,
        "unit_description": TRIMMED,
        "endpoint_url": URL_RULE,
        "secret": f"only shared listings have one; not {TRIMMED}",
        "units": "only shared listings take a number of units",
    },
    "POST /api/v1/listings/{listing_id}/secrets": {
        "secrets": f"distinct, not already in the pool, none {TRIMMED}",
    },
    "POST /api/v1/orders": {"listing_id": "must name a listing (docs/decisions.md)"},
}
# Text columns cannot hold NUL, so DRF refuses it in every text field.
NUL_REFUSED = ["Null characters are not allowed."]


@dataclass
class World:
    token: str
    ids: dict[str, list[int]]  # rows that ids in paths and bodies are steered to


@pytest.fixture
def world(db: None, fake_stripe: FakeStripe) -> World:
    """A seller who also buys: listings of both modes (one paused) and someone else's, an
    instant order with tokens, one awaiting payment (Stripe is the local fake), a sale
    with tokens the seller may revoke, sessions of their own and someone else's."""
    me, other = UserFactory.create(), UserFactory.create()
    mine = [
        make_listing(seller=me, units=50, service_name="My API"),
        make_listing(seller=me, pool=[f"pool-secret-{n:04}" for n in range(5)]),
        make_listing(seller=me, units=5, service_name="My paused API"),
    ]
    listing_update(seller=me, listing_id=mine[2].pk, changes={"status": "paused"})
    theirs = [
        make_listing(seller=other, units=500, price="1.00"),
        make_listing(seller=other, units=500, price="20.00"),
    ]
    orders = [
        order_create(buyer=me, listing_id=theirs[0].pk, units=2).order,
        order_create(buyer=me, listing_id=theirs[1].pk, units=1).order,
        order_create(buyer=other, listing_id=mine[0].pk, units=3).order,
    ]
    token = bearer_token(me)
    bearer_token(me)
    bearer_token(other)
    return World(
        token=token,
        ids={
            "listing_id": [listing.pk for listing in [*mine, *theirs]],
            "order_id": [order.pk for order in orders],
            "token_id": [t.pk for order in orders for t in order.tokens.all()],
            "session_id": [s.pk for user in (me, other) for s in user.api_sessions.all()],
        },
    )


@pytest.fixture
def in_test_transaction() -> Iterator[None]:
    """Call the WSGI app inside the test's transaction, as Django's test client does (the
    handler would otherwise close the test's database connection after each request)."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


def _steer_ids(case: schemathesis.Case, ids: dict[str, list[int]]) -> None:
    """Random ids would almost never name a row: in a request the schema allows, a
    non-negative id in the path or the body picks one of the seeded rows instead (mine,
    someone else's). Negative ids stay, as ids of nothing, and so do requests
    generated to break the schema (the id may be what breaks it)."""
    if case.meta is not None and not case.meta.generation.mode.is_positive:
        return

    def seeded(name: str, value: Any) -> Any:
        if type(value) is int and value >= 0 and ids.get(name):
            return ids[name][value % len(ids[name])]
        return value

    for name, value in (case.path_parameters or {}).items():
        case.path_parameters[name] = seeded(name, value)
    if isinstance(case.body, dict):
        for name, value in case.body.items():
            case.body[name] = seeded(name, value)


def _refused_by_rules_beyond_the_schema(label: str, body: Any) -> bool:
    rules = RULES_BEYOND_THE_SCHEMA.get(label, {})
    return isinstance(body, dict) and all(
        field in rules or messages == NUL_REFUSED for field, messages in body.items()
    )


@schema.parametrize()
@settings(
    max_examples=10,
    deadline=None,
    derandomize=True,
    # `world` is built once per operation on purpose; each example rolls back to it.
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_api_conforms_to_its_schema(
    case: schemathesis.Case, world: World, in_test_transaction: None
) -> None:
    _steer_ids(case, world.ids)
    cache.clear()
    headers = {"Authorization": f"Bearer {world.token}"}
    with transaction.atomic():
        response = case.call(headers=headers)
        excluded: list[CheckFunction] = []
        if response.status_code == 400 and _refused_by_rules_beyond_the_schema(
            case.operation.label, response.json()
        ):
            excluded.append(positive_data_acceptance)
        case.validate_response(
            response,
            headers=headers,
            transport_kwargs={"headers": headers},
            excluded_checks=excluded,
        )
        transaction.set_rollback(True)


# --- What the fuzzer found, pinned --------------------------------------------------------


@pytest.mark.parametrize(
    "path", ["/api/v1/orders/abc", "/api/v1/tokens/1%0A/revoke", "/api/v1/orders/", "/api/v1/x"]
)
def test_any_other_api_path_is_a_json_404(api: APIClient, path: str) -> None:
    response = api.post(path)
    assert response.status_code == 404
    assert response.json() == {"detail": "Not found."}


def test_the_schema_and_docs_pages_still_gain_their_slash(api: APIClient) -> None:
    assert api.get("/api/v1/docs").status_code == 301


@pytest.mark.parametrize(
    ("query", "status"),
    [({"page_size": "abc"}, 400), ({"page_size": "0"}, 400), ({"page": ""}, 404)],
)
def test_page_parameters_are_checked(api: APIClient, query: dict[str, str], status: int) -> None:
    response = api.get("/api/v1/listings", query)
    assert response.status_code == status
    assert set(response.json()) == ({"page_size"} if status == 400 else {"detail"})


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"seller": "0"}, "seller"),
        ({"in_stock": "on"}, "in_stock"),
        ({"min_price": ""}, "min_price"),
    ],
)
def test_browse_parameters_are_taken_as_documented(
    api: APIClient, query: dict[str, str], field: str
) -> None:
    response = api.get("/api/v1/listings", query)
    assert response.status_code == 400
    [message] = response.json()[field]  # a list of messages, as in every other 400
    assert isinstance(message, str)


@pytest.mark.parametrize(
    ("method", "path", "body", "field"),
    [
        ("patch", "/api/v1/auth/me", {"display_name": 0}, "display_name"),
        ("post", "/api/v1/orders", {"listing_id": "1", "units": 1}, "listing_id"),
        ("post", "/api/v1/listings", {"price_per_unit": 9.99}, "price_per_unit"),
        ("post", "/api/v1/listings", {"price_per_unit": "09.99"}, "price_per_unit"),
        ("post", "/api/v1/listings", {"secrets": ["ok", 7]}, "secrets"),
    ],
)
def test_values_not_as_documented_are_refused(
    client_for: Callable[[User], APIClient],
    buyer: User,
    method: str,
    path: str,
    body: dict[str, Any],
    field: str,
) -> None:
    response = getattr(client_for(buyer), method)(path, body, format="json")
    assert response.status_code == 400
    assert field in response.json()

"""Issue 14, class 1: a pathological JSON body, sent to any API route, signed in or not, is
a 400 that says what is wrong (or the route's own refusal: 401, 404, 405...), never a 5xx.

Every route is found by walking the URL resolver under /api/v1/, so a route added later is
swept too. Where the schema says an operation takes a body, the sweep checks it really got
as far as reading it: a 400 whose detail is the parser's message.
"""

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any

import pytest
from django.test import Client
from django.urls import URLPattern
from drf_spectacular.generators import SchemaGenerator

from core.parsers import MAX_JSON_DEPTH
from marketplace import api_urls
from orders.services import order_create
from tests.factories import UserFactory, bearer_token, make_listing
from tests.stripe_fake import WEBHOOK_PATH, FakeStripe

pytestmark = pytest.mark.django_db


def _arrays(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


def _objects(depth: int) -> bytes:
    return b'{"a": ' * depth + b"1" + b"}" * depth


TOO_DEEP = f"JSON parse error - nested more than {MAX_JSON_DEPTH} levels deep."
# Bodies the parser refuses, with the detail of its 400.
UNPARSABLE: dict[str, tuple[bytes, str]] = {
    "arrays 100k deep": (_arrays(100_000), TOO_DEEP),
    "objects 100k deep": (_objects(100_000), TOO_DEEP),
    "arrays 5000 deep": (_arrays(5000), TOO_DEEP),
    "a list one level too deep": (b'{"secrets": ' + _arrays(MAX_JSON_DEPTH) + b"}", TOO_DEEP),
    "a number beyond floats": (
        b'{"units": 1e999999, "listing_id": -1e999999}',
        "JSON parse error - a number is too large.",
    ),
    "an integer of 5000 digits": (
        b'{"units": ' + b"9" * 5000 + b"}",
        "JSON parse error - a number has more than 4300 digits.",
    ),
    "NaN": (b'{"units": NaN}', "JSON parse error - NaN is not a JSON value."),
    "-Infinity": (b'{"units": -Infinity}', "JSON parse error - -Infinity is not a JSON value."),
    "invalid UTF-8": (
        b'{"display_name": "\xff\xfe"}',
        "JSON parse error - not UTF-8 (byte 0xff at 18).",
    ),
    "a lone surrogate in a name": (
        b'{"\\ud800": 1}',
        "JSON parse error - a string holds a lone surrogate (\\ud800-\\udfff), which is not text.",
    ),
    "a lone surrogate in a value": (
        b'{"email": "a@b.example", "password": "x\\udfffy", "display_name": "\\udc00"}',
        "JSON parse error - a string holds a lone surrogate (\\ud800-\\udfff), which is not text.",
    ),
    "a duplicate name": (
        b'{"units": 1, "listing_id": 1, "units": 500}',
        'JSON parse error - the name "units" appears twice in an object.',
    ),
    "a byte order mark": (
        b'\xef\xbb\xbf{"units": 1}',
        "JSON parse error - Unexpected UTF-8 BOM (decode using utf-8-sig): line 1 column 1 "
        "(char 0).",
    ),
    "truncated": (b'{"units": ', "JSON parse error - Expecting value: line 1 column 11 (char 10)."),
}
# Bodies that are JSON, but not an object of the operation's fields: the operation refuses them.
NOT_AN_OBJECT = {"an array": b"[1, 2]", "a string": b'"units"', "null": b"null", "true": b"true"}


@dataclass
class World:
    ids: dict[str, int]  # a row of each kind the signed-in user may act on
    new_token: Callable[[], str]  # a fresh session: logout and revoke end the one they use


@pytest.fixture
def world(db: None) -> World:
    me, other = UserFactory.create(), UserFactory.create()
    mine = make_listing(seller=me, pool=[f"pool-secret-{n:04}" for n in range(3)])
    theirs = make_listing(seller=other, units=50)
    order = order_create(buyer=me, listing_id=theirs.pk, units=1).order
    bearer_token(me)
    return World(
        ids={
            "listing_id": mine.pk,
            "order_id": order.pk,
            "token_id": order.tokens.get().pk,
            "session_id": me.api_sessions.earliest("pk").pk,
        },
        new_token=lambda: bearer_token(me),
    )


def _api_routes() -> list[tuple[str, type]]:
    """Every route of /api/v1/ served by a DRF view, as (path pattern, view class)."""
    return [
        (str(pattern.pattern), pattern.callback.cls)
        for pattern in api_urls.urlpatterns
        if isinstance(pattern, URLPattern) and hasattr(pattern.callback, "cls")
    ]


@cache
def _operations_taking_a_body() -> dict[tuple[str, str], bool]:
    """(METHOD, path) of each operation the schema gives a request body, with whether it is
    open to anonymous callers. The webhook is left out: it reads its raw body and answers
    its own 400 (tested below with a signed body)."""
    schema = SchemaGenerator().get_schema(request=None, public=True)
    return {
        (method.upper(), path): {} in operation.get("security", [{}])
        for path, operations in schema["paths"].items()
        for method, operation in operations.items()
        if "requestBody" in operation and path != WEBHOOK_PATH
    }


def _path(pattern: str, ids: dict[str, int]) -> str:
    for name, value in ids.items():
        pattern = pattern.replace(f"<int:{name}>", str(value))
    assert "<" not in pattern, f"no row for a parameter of {pattern}"
    return "/api/v1/" + pattern


def _methods(view: type) -> list[str]:
    implemented = [m for m in ("get", "post", "put", "patch", "delete") if hasattr(view, m)]
    # One method the view does not implement: its 405 must not fail on the body either.
    missing = next(m for m in ("put", "delete", "patch") if m not in implemented)
    return [*implemented, missing]


# One client for every request: each new one loads the middleware again.
client = Client(raise_request_exception=False)


def _send(method: str, path: str, body: bytes, token: str | None) -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return client.generic(
        method.upper(), path, body, content_type="application/json", headers=headers
    )


def _is_json_error(response: Any) -> bool:
    if not response["Content-Type"].startswith("application/json"):
        return False
    body = response.json()
    return isinstance(body, dict) and bool(body)


@pytest.mark.parametrize(("pattern", "view"), _api_routes(), ids=lambda v: str(v))
def test_no_route_answers_a_pathological_body_with_a_5xx(
    world: World, pattern: str, view: type
) -> None:
    taking_a_body = _operations_taking_a_body()
    path = _path(pattern, world.ids)
    bodies = {**{n: b for n, (b, _) in UNPARSABLE.items()}, **NOT_AN_OBJECT}
    failures = []
    for method in _methods(view):
        schema_path = "/api/v1/" + pattern.replace("<int:", "{").replace(">", "}")
        anonymous_allowed = taking_a_body.get((method.upper(), schema_path))
        for signed_in in (False, True):
            for name, body in bodies.items():
                response = _send(method, path, body, world.new_token() if signed_in else None)
                status = response.status_code
                problem = None
                if status >= 500:
                    problem = "a server error"
                elif status >= 400 and not _is_json_error(response):
                    problem = "not a JSON error"
                elif anonymous_allowed is not None and (signed_in or anonymous_allowed):
                    expected = UNPARSABLE[name][1] if name in UNPARSABLE else None
                    if status != 400 or (
                        expected is not None and response.json() != {"detail": expected}
                    ):
                        problem = "not the parser's 400"
                if problem:
                    who = "signed in" if signed_in else "anonymous"
                    failures.append(
                        f"{method.upper()} {path} {who}, {name}: {problem}: "
                        f"{status} {response.content[:160]!r}"
                    )
    assert not failures, "\n".join(failures)


def test_the_sweep_reaches_every_operation_that_takes_a_body() -> None:
    """The sweep above checks the parser's 400 where the schema documents a body; each of
    those is one of the routes it walks."""
    walked = {"/api/v1/" + p.replace("<int:", "{").replace(">", "}") for p, _ in _api_routes()}
    assert {path for _, path in _operations_taking_a_body()} <= walked
    assert len(_operations_taking_a_body()) >= 8


def test_bodies_as_documented_still_parse(world: World) -> None:
    token = world.new_token()
    nested = b'{"secrets": ["pool-secret-new-1", "pool-secret-new-2"]}'
    response = _send("post", f"/api/v1/listings/{world.ids['listing_id']}/secrets", nested, token)
    assert response.status_code == 201, response.content
    unicode = '{"display_name": "Zoë 🌍 \\ud83c\\udf0d"}'.encode()
    response = _send("patch", "/api/v1/auth/me", unicode, token)
    assert response.status_code == 200, response.content
    assert response.json()["display_name"] == "Zoë 🌍 🌍"


def test_the_content_type_charset_is_not_used_to_decode(world: World) -> None:
    """application/json has no charset parameter (RFC 8259 §11): the body is read as UTF-8,
    and a charset naming a compression codec cannot expand a small body into a large one."""
    token = world.new_token()
    for charset in ("zlib_codec", "utf-16", "latin-1", "nonsense"):
        response = client.generic(
            "PATCH",
            "/api/v1/auth/me",
            '{"display_name": "Zoë"}'.encode(),
            content_type=f"application/json; charset={charset}",
            headers={"Authorization": f"Bearer {token}"},
        )
        assert response.status_code == 200, (charset, response.content)
        assert response.json()["display_name"] == "Zoë"


@pytest.mark.parametrize(
    "body",
    [_arrays(100_000), _objects(100_000)],
    ids=["arrays", "objects"],
)
def test_a_signed_webhook_nested_100k_deep_is_acknowledged_as_malformed(
    fake_stripe: FakeStripe, body: bytes
) -> None:
    """The webhook parses its own body once the signature holds: too deep is acknowledged as
    any other signed body that is not an event (never a 5xx), so Stripe does not retry it."""
    [(_, signature)] = fake_stripe.signed(body).items()
    response = client.post(
        WEBHOOK_PATH, body, content_type="application/json", headers={"Stripe-Signature": signature}
    )
    assert response.status_code == 200, response.content
    assert response.json() == {"received": True, "outcome": "malformed"}

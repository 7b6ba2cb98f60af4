"""Issue 14, class 12: what the caches keep must not let one request's headers change what
others get.

A request with a crafted header (a forwarded scheme or host, another Accept, another Host
among ALLOWED_HOSTS) warms the caches first; an ordinary request must then get exactly
what it gets from a cold cache. The listing data cache keeps only data that the path and
query choose (a page's absolute links are made per request); the whole-response cache keys
on everything the response still depends on.
"""

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

import pytest
from django.core.cache import cache
from django.test import Client

from tests.factories import make_listing

pytestmark = pytest.mark.django_db

Committed = Callable[..., AbstractContextManager[Any]]
PAGE = "/api/v1/listings?page_size=1&ordering=price"


@pytest.fixture(autouse=True)
def _two_pages(committed: Committed, settings: Any) -> None:
    """Two listings, so the first page of one has an absolute link to the next."""
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")  # behind a proxy
    settings.USE_X_FORWARDED_HOST = True
    with committed():
        make_listing(service_name="First API", price="1.00")
        make_listing(service_name="Second API", price="2.00")


def _get(path: str, headers: dict[str, str]) -> Any:
    return Client(headers=headers).get(path)


ORDINARY = {"Host": "testserver"}
CRAFTED = {
    "forwarded https": {"Host": "testserver", "X-Forwarded-Proto": "https"},
    "forwarded host": {"Host": "testserver", "X-Forwarded-Host": "localhost"},
    "other host": {"Host": "127.0.0.1"},
    "indented JSON": {"Host": "testserver", "Accept": "application/json; indent=4"},
    "browsable API": {"Host": "testserver", "Accept": "text/html"},
}


@pytest.mark.parametrize("crafted", CRAFTED.values(), ids=CRAFTED.keys())
@pytest.mark.parametrize("path", [PAGE, PAGE + "&page=2", "/api/v1/listings/{id}"])
def test_a_crafted_request_does_not_change_what_others_get(
    crafted: dict[str, str], path: str
) -> None:
    path = path.format(id=_first_listing_id())
    cache.clear()
    cold = _get(path, ORDINARY)
    cache.clear()

    warmed_by = _get(path, crafted)
    for _ in range(2):  # from the data cache, then from the stored response
        ordinary = _get(path, ORDINARY)
        assert ordinary.status_code == cold.status_code == 200
        assert ordinary.content == cold.content
        assert ordinary["Content-Type"] == cold["Content-Type"]
    assert warmed_by.status_code == 200


JSON_CRAFTED = {name: headers for name, headers in CRAFTED.items() if name != "browsable API"}


@pytest.mark.parametrize("crafted", JSON_CRAFTED.values(), ids=JSON_CRAFTED.keys())
def test_an_ordinary_request_does_not_change_what_a_crafted_one_gets(
    crafted: dict[str, str],
) -> None:
    """The other way round: e.g. a page first read over plain http must not give https
    readers http:// links. (The browsable API is never stored, and differs per request.)"""
    cold = _get(PAGE, crafted)
    cache.clear()

    _get(PAGE, ORDINARY)
    for _ in range(2):
        assert _get(PAGE, crafted).content == cold.content


@pytest.mark.parametrize("crafted", CRAFTED.values(), ids=CRAFTED.keys())
@pytest.mark.parametrize("path", ["/", "/listings?page=1&ordering=price", "/listings/{id}"])
def test_pages_cached_for_visitors_do_not_keep_a_crafted_requests_values(
    crafted: dict[str, str], path: str
) -> None:
    """The pages cache data (listings, counts), never anything taken from the request."""
    path = path.format(id=_first_listing_id())
    cache.clear()
    cold = _get(path, ORDINARY)
    cache.clear()

    _get(path, crafted)
    ordinary = _get(path, ORDINARY)

    assert ordinary.status_code == cold.status_code == 200
    assert ordinary.content == cold.content


def test_links_follow_each_requests_scheme_and_host() -> None:
    """What the crafted requests above get is their own: the link says how they came."""
    links = {
        name: _get(PAGE, headers).json()["next"]
        for name, headers in CRAFTED.items()
        if "Accept" not in headers
    }
    plain = _get(PAGE, ORDINARY).json()["next"]

    assert plain.startswith("http://testserver/api/v1/listings?")
    assert links["forwarded https"].startswith("https://testserver/")
    assert links["forwarded host"].startswith("http://localhost/")
    assert links["other host"].startswith("http://127.0.0.1/")


def test_a_host_django_refuses_is_never_answered_from_the_store() -> None:
    assert _get(PAGE, ORDINARY).status_code == 200
    assert _get(PAGE, ORDINARY).status_code == 200  # stored

    assert _get(PAGE, {"Host": "evil.example"}).status_code == 400
    forwarded_evil = {"Host": "testserver", "X-Forwarded-Host": "evil.example"}
    assert _get(PAGE, forwarded_evil).status_code == 400


def _first_listing_id() -> int:
    return int(_get(PAGE, ORDINARY).json()["results"][0]["id"])

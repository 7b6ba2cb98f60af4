"""§8: every page carries the strict Content Security Policy and needs nothing it forbids
(no inline script or style); every form that changes something refuses a post without CSRF."""

import re

import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import User
from listings.models import Listing
from orders.checkout_links import checkout_token
from orders.models import Order
from orders.services import order_create
from tests.factories import UserFactory, make_listing

pytestmark = pytest.mark.django_db

INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.I)
INLINE_STYLE = re.compile(r"<style\b|\sstyle=", re.I)
INLINE_HANDLER = re.compile(r"\son[a-z]+=", re.I)


@pytest.fixture
def world() -> dict[str, object]:
    """A seller with a listing, a buyer with a fulfilled order (and its tokens)."""
    seller: User = UserFactory.create()
    buyer: User = UserFactory.create()
    listing: Listing = make_listing(seller=seller, units=5, price="1.00")
    order: Order = order_create(buyer=buyer, listing_id=listing.pk, units=1).order
    return {"seller": seller, "buyer": buyer, "listing": listing, "order": order}


def _pages(world: dict[str, object]) -> list[tuple[str | None, str]]:
    """(who, url) for every page: None is an anonymous visitor."""
    listing = world["listing"]
    order = world["order"]
    assert isinstance(listing, Listing) and isinstance(order, Order)
    token = checkout_token(order.pk)
    return [
        (None, reverse("home")),
        (None, reverse("browse")),
        (None, reverse("listing-detail", args=[listing.pk])),
        (None, reverse("login")),
        (None, reverse("signup")),
        (None, reverse("checkout-success", args=[token])),
        (None, reverse("checkout-cancel", args=[token])),
        ("buyer", reverse("listing-detail", args=[listing.pk])),
        ("buyer", reverse("my-orders")),
        ("buyer", reverse("order-detail", args=[order.pk])),
        ("buyer", reverse("my-tokens")),
        ("buyer", reverse("account")),
        ("buyer", reverse("password-change")),
        ("seller", reverse("sell-dashboard")),
        ("seller", reverse("sell-listing-new")),
        ("seller", reverse("sell-listing-edit", args=[listing.pk])),
        ("seller", reverse("sell-sales")),
    ]


def _client(world: dict[str, object], who: str | None, *, csrf_checks: bool = False) -> Client:
    client = Client(enforce_csrf_checks=csrf_checks)
    if who is not None:
        user = world[who]
        assert isinstance(user, User)
        client.force_login(user)
    return client


def test_every_page_has_the_strict_csp_and_nothing_inline(world: dict[str, object]) -> None:
    for who, url in _pages(world):
        response = _client(world, who).get(url)
        assert response.status_code == 200, (url, response.status_code)
        policy = response["Content-Security-Policy"]
        for directive in ("default-src 'self'", "script-src 'self'", "style-src 'self'"):
            assert directive in policy, (url, policy)
        assert "unsafe-inline" not in policy, url
        html = response.content.decode()
        assert not INLINE_SCRIPT.search(html), (url, INLINE_SCRIPT.search(html))
        assert not INLINE_STYLE.search(html), (url, INLINE_STYLE.search(html))
        assert not INLINE_HANDLER.search(html), (url, INLINE_HANDLER.search(html))


def test_every_page_form_that_changes_something_needs_its_csrf_token(
    world: dict[str, object],
) -> None:
    listing = world["listing"]
    order = world["order"]
    assert isinstance(listing, Listing) and isinstance(order, Order)
    token = order.tokens.first()
    assert token is not None
    posts = [
        (None, reverse("login"), {"email": "x@example.test", "password": "p"}),
        (None, reverse("signup"), {"email": "y@example.test"}),
        ("buyer", reverse("logout"), {}),
        ("buyer", reverse("buy", args=[listing.pk]), {"units": "1"}),
        ("buyer", reverse("order-cancel", args=[order.pk]), {}),
        ("buyer", reverse("token-reveal", args=[token.pk]), {}),
        ("buyer", reverse("password-change"), {}),
        ("seller", reverse("sell-listing-new"), {}),
        ("seller", reverse("sell-listing-status", args=[listing.pk]), {"status": "paused"}),
        ("seller", reverse("sell-token-revoke", args=[token.pk]), {}),
        (None, reverse("checkout-cancel", args=[checkout_token(order.pk)]), {}),
    ]
    for who, url, data in posts:
        response = _client(world, who, csrf_checks=True).post(url, data)
        assert response.status_code == 403, (url, response.status_code)
    listing.refresh_from_db()
    assert listing.status == Listing.Status.ACTIVE and listing.available_units == 4
    assert order.tokens.filter(revoked_at__isnull=False).count() == 0

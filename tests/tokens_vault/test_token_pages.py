"""SPEC §4, §6 and §8 on the my-tokens page: secrets are not in the page until the buyer
reveals one (a POST, audited with where it came from, never cached); a GET never reveals or
audits; revoked tokens say so and cannot be revealed; another user's token is a 404; the page
makes as many queries for 50 tokens as for 1.
"""

import pytest
from django.test import Client

from accounts.models import User
from listings.models import Listing
from orders.models import Order
from orders.services import order_create
from tests.factories import UserFactory, make_listing, reveals
from tests.pages import queries_for
from tokens_vault.models import Token
from tokens_vault.services import token_revoke

pytestmark = pytest.mark.django_db

SECRET = "wx-live-9d8c7b6a5f4e"
POOL = ["pool-key-0001", "pool-key-0002"]


@pytest.fixture
def listing(seller: User) -> Listing:
    return make_listing(seller=seller, units=5, price="0.50", secret=SECRET)


@pytest.fixture
def order(buyer: User, listing: Listing) -> Order:
    """The buyer bought 2 units (2 tokens) of the shared listing."""
    return order_create(buyer=buyer, listing_id=listing.pk, units=2).order


def _tokens(order: Order) -> list[Token]:
    return list(Token.objects.filter(order=order).order_by("pk"))


def test_the_page_lists_tokens_without_their_secrets(
    client: Client, buyer: User, order: Order
) -> None:
    client.force_login(buyer)

    response = client.get("/tokens")

    assert response.status_code == 200
    page = response.content.decode()
    assert SECRET not in page
    assert 'class="secret"' not in page
    for token in _tokens(order):
        assert f'<tr id="token-{token.pk}">' in page
        assert f'action="/tokens/{token.pk}/reveal#token-{token.pk}"' in page
    assert "Weather API" in page
    assert f'href="/orders/{order.pk}"' in page
    assert page.count('<span class="badge live">Live</span>') == 2
    assert not reveals().exists()  # looking at the list reveals nothing


def test_reveal_shows_that_one_secret_with_a_copy_button_and_audits_it(
    client: Client, buyer: User, order: Order
) -> None:
    first, second = _tokens(order)
    client.force_login(buyer)

    response = client.post(
        f"/tokens/{first.pk}/reveal", HTTP_USER_AGENT="Firefox/140", REMOTE_ADDR="203.0.113.9"
    )

    assert response.status_code == 200
    page = response.content.decode()
    assert f'<code class="secret" id="secret-{first.pk}">{SECRET}</code>' in page
    assert f'data-copy="secret-{first.pk}"' in page
    assert page.count(SECRET) == 1  # the other token stays hidden
    assert f'action="/tokens/{second.pk}/reveal#token-{second.pk}"' in page
    assert "no-store" in response["Cache-Control"]
    audit = reveals().get()
    assert (audit.target_id, audit.actor_id) == (str(first.pk), buyer.pk)
    assert audit.ip == "203.0.113.9"
    assert audit.user_agent == "Firefox/140"


def test_each_reveal_is_audited_and_a_get_never_reveals(
    client: Client, buyer: User, order: Order
) -> None:
    token = _tokens(order)[0]
    client.force_login(buyer)

    client.post(f"/tokens/{token.pk}/reveal")
    client.post(f"/tokens/{token.pk}/reveal")
    assert reveals().count() == 2

    assert client.get(f"/tokens/{token.pk}/reveal").status_code == 405
    page = client.get("/tokens").content.decode()
    assert SECRET not in page
    assert reveals().count() == 2


def test_pool_tokens_reveal_their_own_secret(client: Client, buyer: User, seller: User) -> None:
    pool = make_listing(seller=seller, pool=POOL, price="0.50")
    order = order_create(buyer=buyer, listing_id=pool.pk, units=2).order
    client.force_login(buyer)

    shown = set()
    for token in _tokens(order):
        page = client.post(f"/tokens/{token.pk}/reveal").content.decode()
        shown |= {secret for secret in POOL if f'id="secret-{token.pk}">{secret}<' in page}

    assert shown == set(POOL)


def test_a_revoked_token_says_so_and_cannot_be_revealed(
    client: Client, buyer: User, seller: User, order: Order
) -> None:
    revoked, live = _tokens(order)
    token_revoke(token_id=revoked.pk, actor=seller)
    client.force_login(buyer)

    page = client.get("/tokens").content.decode()
    assert '<span class="badge revoked">Revoked</span>' in page
    assert "it can no longer be revealed" in page
    assert f"/tokens/{revoked.pk}/reveal" not in page
    assert f"/tokens/{live.pk}/reveal" in page

    response = client.post(f"/tokens/{revoked.pk}/reveal")
    assert response.status_code == 409
    page = response.content.decode()
    assert f"Token #{revoked.pk} was revoked: its secret can no longer be revealed." in page
    assert SECRET not in page
    assert not reveals().exists()


def test_another_users_token_is_a_404_and_reveals_nothing(
    client: Client, seller: User, order: Order
) -> None:
    token = _tokens(order)[0]
    for outsider in (UserFactory.create(), seller):  # even the listing's seller
        client.force_login(outsider)
        response = client.post(f"/tokens/{token.pk}/reveal")
        assert response.status_code == 404
        assert SECRET not in response.content.decode()
        assert f"token-{token.pk}" not in client.get("/tokens").content.decode()
    assert not reveals().exists()


def test_the_pages_need_an_account(client: Client, order: Order) -> None:
    token = _tokens(order)[0]

    assert client.get("/tokens")["Location"] == "/login?next=/tokens"
    response = client.post(f"/tokens/{token.pk}/reveal")
    assert response.status_code == 302
    assert response["Location"] == "/login?next=/tokens"
    assert not reveals().exists()


def test_reveal_needs_its_csrf_token(buyer: User, order: Order) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(buyer)

    response = client.post(f"/tokens/{_tokens(order)[0].pk}/reveal")

    assert response.status_code == 403
    assert not reveals().exists()


def test_the_list_is_paginated_and_a_reveal_shows_the_page_holding_the_token(
    client: Client, buyer: User
) -> None:
    listing = make_listing(units=30, price="0.10", secret=SECRET)
    order = order_create(buyer=buyer, listing_id=listing.pk, units=25).order
    oldest = _tokens(order)[0]  # newest first: the oldest is on page 2
    client.force_login(buyer)

    first = client.get("/tokens").content.decode()
    assert first.count('<tr id="token-') == 20
    assert f'id="token-{oldest.pk}"' not in first
    assert 'href="?page=2"' in first

    page = client.post(f"/tokens/{oldest.pk}/reveal").content.decode()
    assert f'<code class="secret" id="secret-{oldest.pk}">{SECRET}</code>' in page
    assert "Page 2 of 2" in page


def test_my_tokens_makes_as_many_queries_for_50_tokens_as_for_1(
    client: Client, buyer: User
) -> None:
    """Each token of another listing, so a per-row lookup of order or listing would show."""
    client.force_login(buyer)

    def buy(count: int) -> None:
        for n in range(count):
            listing = make_listing(units=1, price="0.50", service_name=f"Feed {n}")
            order_create(buyer=buyer, listing_id=listing.pk, units=1)

    buy(1)
    with_one = queries_for(client, "/tokens")
    buy(49)

    assert queries_for(client, "/tokens") == with_one

"""The seller's pages: dashboard, create/edit/pause listings, pool uploads, sales and token
revocation (SPEC §3, §6, §8; issue #4).

The pages call the same services as the API, so these tests check what is particular to
pages: input kept after an error (but never a secret), messages, owner-only access, CSRF on
every form, and a fixed number of queries however many rows a page shows.
"""

import re
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.test.utils import override_settings
from django.urls import reverse
from rest_framework.test import APIClient

from accounts.models import User
from listings.models import Listing, PoolSecret
from orders.services import order_create
from tests.factories import UserFactory, make_listing
from tests.pages import queries_for
from tokens_vault.models import Secret, Token
from tokens_vault.services import secret_plaintext

pytestmark = pytest.mark.django_db

SHARED_SECRET = "geo-key-7f3a9c21-page"
SHARED_FORM: dict[str, Any] = {
    "service_name": "Geocoding API",
    "description": "Forward and reverse geocoding",
    "unit_description": "per 1000 lookups",
    "price_per_unit": "0.75",
    "currency": "USD",
    "endpoint_url": "https://geo.example.test/v1",
    "delivery_mode": "shared",
    "secret": SHARED_SECRET,
    "units": "50",
}
POOL_SECRETS = ["lic-page-0001", "lic-page-0002", "lic-page-0003"]
POOL_FORM: dict[str, Any] = {
    "service_name": "Licence keys",
    "unit_description": "one licence",
    "price_per_unit": "4.00",
    "currency": "EUR",
    "delivery_mode": "pool",
    "secrets": "\n".join(POOL_SECRETS) + "\n",
}


@pytest.fixture
def seller_page(seller: User) -> Client:
    """The seller, signed in through the session cookie the pages use."""
    client = Client()
    client.force_login(seller)
    return client


@pytest.fixture
def stranger_page(db: None) -> Client:
    client = Client()
    client.force_login(UserFactory.create())
    return client


def _form_errors(response: Any, field: str) -> list[str]:
    assert response.status_code == 200, response.status_code
    return list(response.context["form"].errors.get(field, []))


def _messages(response: Any) -> list[str]:
    return [str(message) for message in response.context["messages"]]


def _edit_data(listing: Listing, **changes: Any) -> dict[str, Any]:
    """The edit form as the page rendered it (units' hidden initial included), then changed."""
    data: dict[str, Any] = {
        "service_name": listing.service_name,
        "description": listing.description,
        "unit_description": listing.unit_description,
        "price_per_unit": str(listing.price_per_unit),
        "currency": listing.currency,
        "endpoint_url": listing.endpoint_url,
    }
    if listing.delivery_mode == Listing.DeliveryMode.SHARED:
        data |= {"units": listing.available_units, "initial-units": listing.available_units}
    return data | changes


def _secret_of(listing: Listing) -> str:
    listing.refresh_from_db()
    assert listing.shared_secret is not None
    return secret_plaintext(listing.shared_secret)


def _pool_plaintexts(listing: Listing) -> list[str]:
    return [
        secret_plaintext(entry.secret)
        for entry in PoolSecret.objects.filter(listing=listing).select_related("secret")
    ]


# --- Creating listings ----------------------------------------------------------------------


def test_seller_creates_a_shared_listing(seller_page: Client, seller: User) -> None:
    response = seller_page.post(reverse("sell-listing-new"), SHARED_FORM, follow=True)

    assert response.redirect_chain == [(reverse("sell-dashboard"), 302)]
    listing = Listing.objects.get(seller=seller)
    assert listing.delivery_mode == "shared"
    assert listing.available_units == 50
    assert listing.price_per_unit == Decimal("0.75")
    assert listing.endpoint_url == "https://geo.example.test/v1"
    assert _secret_of(listing) == SHARED_SECRET
    assert _messages(response) == ["“Geocoding API” is listed with 50 units."]
    html = response.content.decode()
    assert "Geocoding API" in html
    assert '<span class="badge active">Active</span>' in html
    assert SHARED_SECRET not in html


def test_seller_creates_a_pool_listing_from_pasted_lines_and_a_file(
    seller_page: Client, seller: User
) -> None:
    upload = SimpleUploadedFile("keys.txt", b"\xef\xbb\xbflic-file-0001\r\nlic-file-0002\r\n")
    data = POOL_FORM | {"secrets": "  lic-page-0001 \n\nlic-page-0002\n", "secrets_file": upload}

    response = seller_page.post(reverse("sell-listing-new"), data, follow=True)

    assert response.redirect_chain == [(reverse("sell-dashboard"), 302)]
    listing = Listing.objects.get(seller=seller)
    assert listing.delivery_mode == "pool"
    assert listing.available_units == 4
    assert listing.currency == "EUR"
    assert sorted(_pool_plaintexts(listing)) == [
        "lic-file-0001",
        "lic-file-0002",
        "lic-page-0001",
        "lic-page-0002",
    ]
    assert "lic-page-0001" not in response.content.decode()


def test_the_other_delivery_modes_fields_are_ignored(seller_page: Client, seller: User) -> None:
    """Without JavaScript both sets of fields are on the page; only the chosen one counts."""
    data = POOL_FORM | {"secret": "typed before switching", "units": "7"}
    seller_page.post(reverse("sell-listing-new"), data)
    listing = Listing.objects.get(seller=seller)
    assert listing.shared_secret is None
    assert listing.available_units == len(POOL_SECRETS)


@override_settings(LISTING_REVIEW="pre")
def test_a_listing_under_review_says_so(seller_page: Client) -> None:
    response = seller_page.post(reverse("sell-listing-new"), SHARED_FORM, follow=True)
    assert "It goes on sale once an operator approves it." in _messages(response)[0]
    assert '<span class="badge pending_review">Pending review</span>' in response.content.decode()


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"price_per_unit": "0"}, "price_per_unit", "greater than or equal to 0.01"),
        ({"price_per_unit": "1.234"}, "price_per_unit", "2 decimal places"),
        ({"secret": ""}, "secret", "A shared listing needs its secret."),
        ({"units": ""}, "units", "A shared listing needs the number of units on sale."),
        ({"endpoint_url": "not a url"}, "endpoint_url", "Enter a valid URL."),
    ],
)
def test_create_errors_are_shown_by_the_field_keeping_what_was_typed(
    seller_page: Client, changes: dict[str, str], field: str, message: str
) -> None:
    response = seller_page.post(reverse("sell-listing-new"), SHARED_FORM | changes)

    assert any(message in error for error in _form_errors(response, field))
    html = response.content.decode()
    assert 'value="Geocoding API"' in html  # what they typed is still there
    assert "per 1000 lookups" in html
    assert "Please correct the fields marked below." in html
    assert SHARED_SECRET not in html  # ...but never the secret
    if SHARED_FORM["secret"] and field != "secret":
        assert "enter it again" in html
    assert not Listing.objects.exists()
    assert not Secret.objects.exists()


def test_duplicate_pool_secrets_are_refused_and_not_echoed(seller_page: Client) -> None:
    data = POOL_FORM | {"secrets": "dup-secret-0001\nother-secret-02\ndup-secret-0001\n"}

    response = seller_page.post(reverse("sell-listing-new"), data)

    assert _form_errors(response, "secrets") == ["The same secret appears twice in this upload."]
    html = response.content.decode()
    assert "dup-secret-0001" not in html
    assert "other-secret-02" not in html
    assert "Not kept after an error, for your safety: enter it again." in html
    assert 'value="Licence keys"' in html
    assert not Listing.objects.exists()


def test_a_file_that_is_not_text_is_refused(seller_page: Client) -> None:
    upload = SimpleUploadedFile("keys.bin", b"\xff\xfe\x00binary")
    response = seller_page.post(reverse("sell-listing-new"), POOL_FORM | {"secrets_file": upload})
    assert _form_errors(response, "secrets_file") == [
        "The file must be plain UTF-8 text, one secret per line."
    ]
    assert not Listing.objects.exists()


# --- Editing, restocking, pausing ---------------------------------------------------------


def test_seller_edits_the_price_and_restocks(seller_page: Client, seller: User) -> None:
    listing = make_listing(seller=seller, units=10, price="1.00", secret=SHARED_SECRET)
    edit = reverse("sell-listing-edit", args=[listing.pk])

    form_page = seller_page.get(edit)
    assert form_page.status_code == 200
    assert SHARED_SECRET not in form_page.content.decode()

    response = seller_page.post(
        edit, _edit_data(listing, price_per_unit="2.50", units=40), follow=True
    )

    assert response.redirect_chain == [(reverse("sell-dashboard"), 302)]
    assert _messages(response) == ["Saved your changes to “Weather API”."]
    listing.refresh_from_db()
    assert listing.price_per_unit == Decimal("2.50")
    assert listing.available_units == 40
    assert _secret_of(listing) == SHARED_SECRET  # a blank secret field keeps the secret


def test_saving_the_price_does_not_undo_sales_made_meanwhile(
    seller_page: Client, seller: User
) -> None:
    """Units are written only when the seller changed them, not from a stale page."""
    listing = make_listing(seller=seller, units=10, price="1.00")
    seen = _edit_data(listing, price_per_unit="1.50")  # the page as rendered: 10 units
    order_create(buyer=UserFactory.create(), listing_id=listing.pk, units=3)

    seller_page.post(reverse("sell-listing-edit", args=[listing.pk]), seen)

    listing.refresh_from_db()
    assert listing.price_per_unit == Decimal("1.50")
    assert listing.available_units == 7


def test_a_new_shared_secret_replaces_the_old_one(seller_page: Client, seller: User) -> None:
    listing = make_listing(seller=seller, secret=SHARED_SECRET)
    seller_page.post(
        reverse("sell-listing-edit", args=[listing.pk]),
        _edit_data(listing, secret="rotated-secret-0002"),
    )
    assert _secret_of(listing) == "rotated-secret-0002"


def test_edit_errors_keep_input_but_not_the_new_secret(seller_page: Client, seller: User) -> None:
    listing = make_listing(seller=seller, price="1.00", secret=SHARED_SECRET)
    data = _edit_data(
        listing, service_name="Renamed", price_per_unit="-1", secret="rotated-secret-0003"
    )

    response = seller_page.post(reverse("sell-listing-edit", args=[listing.pk]), data)

    assert _form_errors(response, "price_per_unit")
    html = response.content.decode()
    assert 'value="Renamed"' in html
    assert "rotated-secret-0003" not in html
    assert SHARED_SECRET not in html
    assert "enter it again" in html
    assert _secret_of(listing) == SHARED_SECRET
    assert listing.service_name == "Weather API"


def test_a_pool_listings_edit_page_has_no_stock_or_secret_fields(
    seller_page: Client, seller: User
) -> None:
    listing = make_listing(seller=seller, pool=POOL_SECRETS)
    response = seller_page.get(reverse("sell-listing-edit", args=[listing.pk]))
    assert set(response.context["form"].fields).isdisjoint({"units", "secret"})
    assert reverse("sell-listing-secrets", args=[listing.pk]) in response.content.decode()


def test_seller_pauses_and_resumes(seller_page: Client, seller: User) -> None:
    listing = make_listing(seller=seller)
    status_url = reverse("sell-listing-status", args=[listing.pk])

    paused = seller_page.post(status_url, {"status": "paused"}, follow=True)
    listing.refresh_from_db()
    assert listing.status == "paused"
    assert _messages(paused) == ["“Weather API” is paused: buyers cannot see it."]
    assert '<span class="badge paused">Paused</span>' in paused.content.decode()

    edit = reverse("sell-listing-edit", args=[listing.pk])
    resumed = seller_page.post(status_url, {"status": "active", "next": edit}, follow=True)
    listing.refresh_from_db()
    assert listing.status == "active"
    assert resumed.redirect_chain == [(edit, 302)]  # back where the button was
    assert _messages(resumed) == ["“Weather API” is on sale again."]


def test_status_redirects_only_to_this_site(seller_page: Client, seller: User) -> None:
    listing = make_listing(seller=seller)
    response = seller_page.post(
        reverse("sell-listing-status", args=[listing.pk]),
        {"status": "paused", "next": "https://evil.example/"},
    )
    assert response["Location"] == reverse("sell-dashboard")


def test_a_suspended_listing_cannot_be_resumed_by_its_seller(
    seller_page: Client, seller: User
) -> None:
    listing = make_listing(seller=seller)
    Listing.objects.filter(pk=listing.pk).update(status="suspended")

    response = seller_page.post(
        reverse("sell-listing-status", args=[listing.pk]), {"status": "active"}, follow=True
    )

    assert _messages(response) == ["This listing is suspended; only an operator can change that."]
    listing.refresh_from_db()
    assert listing.status == "suspended"


def test_sold_out_shows_on_the_dashboard(seller_page: Client, seller: User) -> None:
    make_listing(seller=seller, units=0)
    html = seller_page.get(reverse("sell-dashboard")).content.decode()
    assert '<span class="badge sold_out">Sold out</span>' in html


# --- Pool uploads -----------------------------------------------------------------------------


def test_seller_uploads_more_pool_secrets(seller_page: Client, seller: User) -> None:
    listing = make_listing(seller=seller, pool=POOL_SECRETS)
    url = reverse("sell-listing-secrets", args=[listing.pk])
    assert seller_page.get(url).status_code == 200

    upload = SimpleUploadedFile("more.txt", b"lic-more-0003\n")
    response = seller_page.post(
        url, {"secrets": "lic-more-0001\nlic-more-0002", "secrets_file": upload}, follow=True
    )

    assert response.redirect_chain == [(url, 302)]
    assert _messages(response) == ["Added 3 secrets: 6 units of “Weather API” on sale."]
    listing.refresh_from_db()
    assert listing.available_units == 6
    assert "lic-more-0001" not in response.content.decode()


def test_a_secret_already_in_the_pool_is_refused_and_nothing_is_added(
    seller_page: Client, seller: User
) -> None:
    listing = make_listing(seller=seller, pool=POOL_SECRETS)

    response = seller_page.post(
        reverse("sell-listing-secrets", args=[listing.pk]),
        {"secrets": f"lic-new-0009\n{POOL_SECRETS[0]}\n"},
    )

    assert _form_errors(response, "secrets") == [
        "1 of these secrets are already in this pool; a pool secret is sold once."
    ]
    html = response.content.decode()
    assert POOL_SECRETS[0] not in html
    assert "lic-new-0009" not in html
    listing.refresh_from_db()
    assert listing.available_units == len(POOL_SECRETS)
    assert PoolSecret.objects.filter(listing=listing).count() == len(POOL_SECRETS)


def test_an_empty_upload_asks_for_secrets(seller_page: Client, seller: User) -> None:
    listing = make_listing(seller=seller, pool=POOL_SECRETS)
    response = seller_page.post(
        reverse("sell-listing-secrets", args=[listing.pk]), {"secrets": "\n"}
    )
    assert _form_errors(response, "secrets") == ["Upload at least one secret."]


def test_a_shared_listing_has_no_upload_page(seller_page: Client, seller: User) -> None:
    listing = make_listing(seller=seller)
    response = seller_page.get(reverse("sell-listing-secrets", args=[listing.pk]))
    assert response.status_code == 302
    assert response["Location"] == reverse("sell-listing-edit", args=[listing.pk])


# --- Whose listing it is --------------------------------------------------------------------


def test_others_cannot_open_or_change_my_listing(stranger_page: Client, seller: User) -> None:
    shared = make_listing(seller=seller, units=5)
    pool = make_listing(seller=seller, pool=POOL_SECRETS)

    assert stranger_page.get(reverse("sell-listing-edit", args=[shared.pk])).status_code == 403
    edit = stranger_page.post(
        reverse("sell-listing-edit", args=[shared.pk]), _edit_data(shared, units=999)
    )
    assert edit.status_code == 403
    status = stranger_page.post(
        reverse("sell-listing-status", args=[shared.pk]), {"status": "paused"}
    )
    assert status.status_code == 403
    secrets = reverse("sell-listing-secrets", args=[pool.pk])
    assert stranger_page.get(secrets).status_code == 403
    assert stranger_page.post(secrets, {"secrets": "intruder-0001"}).status_code == 403
    assert stranger_page.post(secrets, {"secrets": ""}).status_code == 403

    shared.refresh_from_db()
    pool.refresh_from_db()
    assert (shared.status, shared.available_units) == ("active", 5)
    assert pool.available_units == len(POOL_SECRETS)


def test_others_get_404_for_my_hidden_listing(stranger_page: Client, seller: User) -> None:
    listing = make_listing(seller=seller)
    Listing.objects.filter(pk=listing.pk).update(status="paused")
    assert stranger_page.get(reverse("sell-listing-edit", args=[listing.pk])).status_code == 404
    resume = stranger_page.post(
        reverse("sell-listing-status", args=[listing.pk]), {"status": "active"}
    )
    assert resume.status_code == 404


def test_the_dashboard_shows_only_my_listings(seller_page: Client, seller: User) -> None:
    make_listing(seller=seller, service_name="Mine")
    make_listing(service_name="Somebody else's")
    html = seller_page.get(reverse("sell-dashboard")).content.decode()
    assert "Mine" in html
    assert "Somebody else" not in html


@pytest.mark.parametrize("name", ["sell-dashboard", "sell-listing-new", "sell-sales"])
def test_seller_pages_need_an_account(client: Client, name: str) -> None:
    response = client.get(reverse(name))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


# --- Sales and revocation -------------------------------------------------------------------


@pytest.fixture
def sale(seller: User, buyer: User) -> Token:
    """`buyer` bought two units of `seller`'s shared listing; one of their tokens."""
    listing = make_listing(seller=seller, units=10, price="1.00", secret=SHARED_SECRET)
    order_create(buyer=buyer, listing_id=listing.pk, units=2)
    return Token.objects.filter(owner=buyer).order_by("id").first()  # type: ignore[return-value]


def test_sales_show_orders_without_buyer_emails_or_secrets(
    seller_page: Client, buyer: User, sale: Token
) -> None:
    response = seller_page.get(reverse("sell-sales"))

    html = response.content.decode()
    assert f"#{sale.order_id}" in html
    assert f"Buyer #{buyer.pk}" in html
    assert "2.00 USD" in html
    assert "Fulfilled" in html
    assert f"Token #{sale.pk}" in html
    assert buyer.email not in html
    assert SHARED_SECRET not in html


def test_others_do_not_see_my_sales(stranger_page: Client, sale: Token) -> None:
    html = stranger_page.get(reverse("sell-sales")).content.decode()
    assert f"Token #{sale.pk}" not in html
    assert "No sales yet." in html


def test_revoking_a_token_stops_its_buyer_revealing_it(
    seller_page: Client, client_for: Callable[[User], APIClient], buyer: User, sale: Token
) -> None:
    response = seller_page.post(reverse("sell-token-revoke", args=[sale.pk]), follow=True)

    assert response.redirect_chain == [(reverse("sell-sales"), 302)]
    assert _messages(response) == [
        f"Token #{sale.pk} of order #{sale.order_id} is revoked: "
        "its buyer can no longer reveal the secret."
    ]
    assert "1 revoked" in response.content.decode()
    tokens = client_for(buyer).get("/api/v1/tokens").json()["results"]
    secrets = {token["id"]: token["secret"] for token in tokens}
    assert secrets[sale.pk] is None
    assert [value for token_id, value in secrets.items() if token_id != sale.pk] == [SHARED_SECRET]


def test_only_the_seller_revokes(stranger_page: Client, buyer: User, sale: Token) -> None:
    as_buyer = Client()
    as_buyer.force_login(buyer)
    assert as_buyer.post(reverse("sell-token-revoke", args=[sale.pk])).status_code == 403
    assert stranger_page.post(reverse("sell-token-revoke", args=[sale.pk])).status_code == 404
    sale.refresh_from_db()
    assert sale.revoked_at is None


def test_revoke_is_post_only(seller_page: Client, sale: Token) -> None:
    assert seller_page.get(reverse("sell-token-revoke", args=[sale.pk])).status_code == 405
    sale.refresh_from_db()
    assert sale.revoked_at is None


# --- Secrets, CSRF, query counts ------------------------------------------------------------


def test_no_seller_page_shows_a_secret(seller_page: Client, seller: User, sale: Token) -> None:
    pool = make_listing(seller=seller, pool=POOL_SECRETS)
    shared = Listing.objects.get(seller=seller, delivery_mode="shared")
    urls = [
        reverse("sell-dashboard"),
        reverse("sell-listing-new"),
        reverse("sell-listing-edit", args=[shared.pk]),
        reverse("sell-listing-edit", args=[pool.pk]),
        reverse("sell-listing-secrets", args=[pool.pk]),
        reverse("sell-sales"),
    ]
    for url in urls:
        response = seller_page.get(url)
        assert response.status_code == 200, url
        html = response.content.decode()
        for secret in [SHARED_SECRET, *POOL_SECRETS]:
            assert secret not in html, url


def test_every_form_on_the_seller_pages_carries_a_csrf_token(
    seller_page: Client, seller: User, sale: Token
) -> None:
    pool = make_listing(seller=seller, pool=POOL_SECRETS)
    Listing.objects.filter(pk=pool.pk).update(status="paused")  # a Resume button too
    urls = [
        reverse("sell-dashboard"),
        reverse("sell-listing-new"),
        reverse("sell-listing-edit", args=[pool.pk]),
        reverse("sell-listing-secrets", args=[pool.pk]),
        reverse("sell-sales"),
    ]
    for url in urls:
        html = seller_page.get(url).content.decode()
        forms = re.findall(r'<form method="post".*?</form>', html, flags=re.DOTALL)
        assert forms, url
        for form in forms:
            assert 'name="csrfmiddlewaretoken"' in form, (url, form)


def test_posts_without_a_csrf_token_are_refused(seller: User, sale: Token) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(seller)
    listing = Listing.objects.get(seller=seller)
    posts = [
        (reverse("sell-listing-new"), SHARED_FORM),
        (reverse("sell-listing-edit", args=[listing.pk]), _edit_data(listing, units=1)),
        (reverse("sell-listing-status", args=[listing.pk]), {"status": "paused"}),
        (reverse("sell-token-revoke", args=[sale.pk]), {}),
    ]
    for url, data in posts:
        assert client.post(url, data).status_code == 403, url
    listing.refresh_from_db()
    sale.refresh_from_db()
    assert (listing.status, listing.available_units, sale.revoked_at) == ("active", 8, None)
    assert Listing.objects.filter(seller=seller).count() == 1


def test_the_dashboard_makes_the_same_queries_for_1_and_50_listings(
    seller_page: Client, seller: User
) -> None:
    make_listing(seller=seller, pool=["only-one-0001"])
    one = queries_for(seller_page, reverse("sell-dashboard"))
    for n in range(49):
        make_listing(seller=seller, units=n, service_name=f"Service {n}")
    assert Listing.objects.filter(seller=seller).count() == 50
    assert queries_for(seller_page, reverse("sell-dashboard")) == one
    first = seller_page.get(reverse("sell-dashboard")).content.decode()
    assert first.count('<tr>\n        <th scope="row">') == 25
    assert "Page 1 of 2" in first
    assert "Service 0" in seller_page.get(reverse("sell-dashboard"), {"page": 2}).content.decode()


def test_the_sales_page_makes_the_same_queries_for_1_and_50_orders(
    seller_page: Client, seller: User, buyer: User
) -> None:
    listing = make_listing(seller=seller, units=200, price="0.10")
    order_create(buyer=buyer, listing_id=listing.pk, units=2)
    one = queries_for(seller_page, reverse("sell-sales"))
    other = make_listing(seller=seller, pool=[f"pool-{n:04}" for n in range(60)], price="0.10")
    for n in range(49):
        order_create(
            buyer=UserFactory.create(), listing_id=(listing, other)[n % 2].pk, units=1 + n % 2
        )
    html = seller_page.get(reverse("sell-sales")).content.decode()
    assert html.count("Revoke</button>") > 25  # a full page, each order with its tokens
    assert "Page 1 of 2" in html
    assert queries_for(seller_page, reverse("sell-sales")) == one
    assert queries_for(seller_page, reverse("sell-sales") + "?page=2") == one

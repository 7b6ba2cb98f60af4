"""§10 / issue 6: one JSON log line per request with its request id, and no secret in any log,
whichever logger writes it, during a whole purchase."""

import json
import logging
import re
import secrets
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.conf import settings
from django.db import connection
from django.test import Client
from rest_framework.test import APIClient

from core.log_format import JsonFormatter, RedactSecrets, mark_sensitive
from listings.models import Listing
from tests.orders.helpers import checkout_order
from tests.outages import logged_through_the_configured_handler
from tests.stripe_fake import FakeStripe
from tokens_vault.keyring import generate_key_entry

pytestmark = pytest.mark.django_db

Lines = Callable[[], list[dict[str, Any]]]
SHARED_SECRET = "wx-shared-9f8e7d6c5b"
POOL_SECRETS = ["pool-key-aa11bb22", "pool-key-cc33dd44", "pool-key-ee55ff66"]
SELLER_PASSWORD = "seller-passphrase-4521"
BUYER_PASSWORD = "buyer-passphrase-8832"


@pytest.fixture
def log_lines() -> Iterator[Lines]:
    """Everything logged at DEBUG and above, through the handler settings configure."""
    with logged_through_the_configured_handler("", "django", "django.db.backends") as stream:
        yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]


def _requests(lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [line for line in lines if line["logger"] == "agora.request"]


def test_the_configured_handler_writes_json_through_the_redaction_filter() -> None:
    config: dict[str, Any] = settings.LOGGING
    assert config["handlers"]["console"]["filters"] == ["redact_secrets"]
    [handler] = [h for h in logging.getLogger().handlers if isinstance(h.formatter, JsonFormatter)]
    assert any(isinstance(f, RedactSecrets) for f in handler.filters)


def test_each_request_logs_one_line_with_its_id(log_lines: Lines, buyer: Any) -> None:
    client = Client()
    client.force_login(buyer)

    response = client.get("/listings?q=weather")

    generated = response["X-Request-ID"]
    assert re.fullmatch(r"[0-9a-f]{32}", generated)
    [line] = _requests(log_lines())
    assert line == {
        "time": line["time"],
        "level": "INFO",
        "logger": "agora.request",
        "message": "GET /listings 200",
        "request_id": generated,
        "method": "GET",
        "path": "/listings",
        "status": 200,
        "duration_ms": line["duration_ms"],
        "user_id": buyer.pk,
    }
    assert line["duration_ms"] > 0


def test_a_sane_request_id_is_kept_and_a_bad_one_replaced(log_lines: Lines) -> None:
    kept = Client().get("/healthz", HTTP_X_REQUEST_ID="lb-7f3a.42:edge")
    replaced = Client().get("/healthz", HTTP_X_REQUEST_ID="bad id\n" + "x" * 300)

    assert kept["X-Request-ID"] == "lb-7f3a.42:edge"
    assert re.fullmatch(r"[0-9a-f]{32}", replaced["X-Request-ID"])
    assert [line["request_id"] for line in _requests(log_lines())] == [
        "lb-7f3a.42:edge",
        replaced["X-Request-ID"],
    ]


def test_the_filter_redacts_what_looks_like_a_credential(log_lines: Lines) -> None:
    vault_key = generate_key_entry("k9")
    # Credentials of each shape, generated here: none is written down in the repository.
    session_tail = secrets.token_urlsafe(16)
    stripe_key = "_".join(["sk", "live", secrets.token_hex(12)])
    webhook_secret = "_".join(["whsec", secrets.token_hex(12)])
    bearer_value = secrets.token_urlsafe(16)
    mark_sensitive("seller-secret-value-123")
    log = logging.getLogger("agora.test")

    log.warning("token agora_s_%s and Bearer %s", session_tail, bearer_value)
    log.warning("keys %s %s %s", stripe_key, webhook_secret, vault_key)
    try:
        raise ValueError("bad value seller-secret-value-123")
    except ValueError:
        log.exception("failed with %s", "seller-secret-value-123")

    text = json.dumps(log_lines())
    for leaked in (session_tail, bearer_value, stripe_key, webhook_secret, vault_key):
        assert leaked not in text
    assert "seller-secret-value-123" not in text
    assert "Bearer [redacted]" in text
    assert "ValueError: bad value [redacted]" in text


def test_no_secret_reaches_any_log_during_a_whole_purchase(
    log_lines: Lines, fake_stripe: FakeStripe
) -> None:
    connection.force_debug_cursor = True  # log every SQL statement with its parameters
    try:
        seller_api, seller_token = _signed_up("seller@logs.test", SELLER_PASSWORD)
        shared = _listing(seller_api, mode="shared", secret=SHARED_SECRET, price="1.00")
        pool = _listing(seller_api, mode="pool", secrets=POOL_SECRETS, price="4.00")
        buyer_api, buyer_token = _signed_up("buyer@logs.test", BUYER_PASSWORD)

        instant = buyer_api.post(
            "/api/v1/orders", {"listing_id": shared, "units": 2}, format="json"
        )
        assert instant.json()["status"] == "fulfilled"
        order = checkout_order(buyer_api, _model(pool), 2)
        fake_stripe.deliver(
            "checkout.session.completed",
            fake_stripe.pay(fake_stripe.session_for(order["id"])["id"]),
        )
        revealed = buyer_api.get("/api/v1/tokens").json()["results"]
        browser = Client()
        browser.post("/login", {"email": "buyer@logs.test", "password": BUYER_PASSWORD})
        browser.post(f"/tokens/{revealed[0]['id']}/reveal")
        buyer_api.post(
            "/api/v1/auth/login",
            {"email": "buyer@logs.test", "password": "wrong-" + BUYER_PASSWORD},
            format="json",
        )
    finally:
        connection.force_debug_cursor = False

    shown = sorted(t["secret"] for t in revealed)
    assert shown.count(SHARED_SECRET) == 2
    assert len(set(shown) & set(POOL_SECRETS)) == 2  # the secrets really went through
    lines = log_lines()
    assert len(_requests(lines)) >= 10
    assert any(line["logger"] == "django.db.backends" for line in lines)  # SQL was logged
    text = "\n".join(json.dumps(line) for line in lines)
    sensitive = [
        SHARED_SECRET, *POOL_SECRETS, SELLER_PASSWORD, BUYER_PASSWORD, seller_token, buyer_token,
        fake_stripe.api_key, fake_stripe.webhook_secret,
    ]  # fmt: skip
    assert [s for s in sensitive if s in text] == []


def _signed_up(email: str, password: str) -> tuple[APIClient, str]:
    api = APIClient()
    assert (
        api.post(
            "/api/v1/auth/register", {"email": email, "password": password}, format="json"
        ).status_code
        == 202
    )
    token: str = api.post(
        "/api/v1/auth/login", {"email": email, "password": password}, format="json"
    ).json()["session_token"]
    return APIClient(HTTP_AUTHORIZATION=f"Bearer {token}"), token


def _listing(api: APIClient, *, mode: str, price: str, **secrets: Any) -> int:
    body = {
        "service_name": f"{mode} service",
        "unit_description": "per call",
        "price_per_unit": price,
        "delivery_mode": mode,
        **({"units": 10} if mode == "shared" else {}),
        **secrets,
    }
    response = api.post("/api/v1/listings", body, format="json")
    assert response.status_code == 201, response.content
    listing_id: int = response.json()["id"]
    return listing_id


def _model(listing_id: int) -> Listing:
    return Listing.objects.get(pk=listing_id)

"""Issue 14, class 10: links that grant access stay out of the logs.

A signed checkout link lets whoever holds it see and cancel an order, so neither its path
segment nor a query parameter that carries a credential (`token=`, `key=`, `signature=`...)
may be written by any logger: our request lines, Django's "Not Found: <path>", the Stripe
SDK's URLs and request bodies. The redaction is the handler's filter (core/log_format.py);
these tests read what the configured handler really writes. gunicorn's own access log is
checked against a real server in tests/marketplace/test_gunicorn.py.
"""

import logging
import re
import secrets
from collections.abc import Callable, Iterator
from urllib.parse import urlsplit

import pytest
from django.conf import settings
from django.db import connection
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from django.urls.converters import IntConverter
from rest_framework.test import APIClient

from accounts import login_throttle
from accounts.models import User
from accounts.password_reset import password_reset_token
from core.log_format import CAPABILITY_URLS, REDACTED, JsonFormatter
from tests.factories import PASSWORD, bearer_token, make_listing
from tests.orders.helpers import checkout_order
from tests.outages import logged_through_the_configured_handler
from tests.stripe_fake import FakeStripe

pytestmark = pytest.mark.django_db

Logged = Callable[[], str]


@pytest.fixture
def logged() -> Iterator[Logged]:
    """All that every logger writes at DEBUG and above (SQL with its parameters included),
    through the configured JSON handler's own formatter and filters."""
    connection.force_debug_cursor = True
    try:
        with logged_through_the_configured_handler(
            "", "django", "django.db.backends", "stripe"
        ) as stream:
            yield stream.getvalue
    finally:
        connection.force_debug_cursor = False


def _token(url: str) -> str:
    """The signed token of a checkout link: /checkout/<token>/<page>."""
    match = re.fullmatch(r"/checkout/([^/]+)/(?:success|cancel|pay)", urlsplit(url).path)
    assert match, url
    return match.group(1)


def test_a_checkout_and_its_result_pages_log_no_signed_token(
    fake_stripe: FakeStripe, buyer: User, logged: Logged
) -> None:
    api = APIClient(HTTP_AUTHORIZATION=f"Bearer {bearer_token(buyer)}")
    order = checkout_order(api, make_listing(price="4.00"), 2)  # Stripe sees both links
    session = fake_stripe.session_for(order["id"])
    success, cancel = _token(session["success_url"]), _token(session["cancel_url"])
    browser = Client()

    assert browser.get(f"/checkout/{success}/success").status_code == 200
    assert browser.get(f"/checkout/{cancel}/cancel").status_code == 200
    assert browser.get(f"/checkout/{success}/no-such-page").status_code == 404
    assert browser.get(f"/checkout/{success[:-4]}AAAA/success").status_code == 404  # forged

    text = logged()
    assert success not in text
    assert cancel not in text
    assert success[:-4] not in text
    assert '"path": "/checkout/[redacted]/success"' in text  # the request line keeps the page
    assert "GET /checkout/[redacted]/cancel 200" in text
    assert "Not Found: /checkout/[redacted]/no-such-page" in text  # Django's own warning
    assert "Request to Stripe api" in text  # the SDK's lines were captured, links redacted


@pytest.mark.parametrize(
    ("line", "kept", "secret"),
    [
        ("GET /orders?page=2&token=Zk9abc123 HTTP/1.1", "/orders?page=2&token=", "Zk9abc123"),
        ("url=https://x.test/v1/a?api_key=Q1w2e3r4&limit=3", "limit=3", "Q1w2e3r4"),
        ("/hook?Signature=ab%2Fcd%3D&t=1", "&t=1", "ab%2Fcd%3D"),
        ("/reset?uid=7&reset_code=0xfeed42", "uid=7", "0xfeed42"),
        ("redirect to /done?session_id=cs_test_9f8e", "/done?session_id=", "cs_test_9f8e"),
    ],
)
def test_query_parameters_that_grant_access_are_redacted(
    logged: Logged, line: str, kept: str, secret: str
) -> None:
    logging.getLogger("gunicorn.access.like").info(line)

    text = logged()
    assert secret not in text
    assert kept in text
    assert REDACTED in text


@pytest.mark.parametrize(
    "written",
    [
        "https://agora.test/checkout/{token}/success",
        "success_url=https%3A%2F%2Fagora.test%2Fcheckout%2F{token}%2Fsuccess&mode=payment",
        '{"cancel_url": "https:\\/\\/agora.test\\/checkout\\/{token}\\/cancel"}',
        "GET /shop/checkout/{token}/pay HTTP/1.1",  # under a path prefix
    ],
    ids=["plain", "url-encoded", "json-escaped", "mounted"],
)
def test_a_checkout_link_is_redacted_however_it_is_written(logged: Logged, written: str) -> None:
    token = f".{secrets.token_urlsafe(12)}:1uAbCd%3A{secrets.token_urlsafe(32)}"

    logging.getLogger("stripe").debug(written.replace("{token}", token))

    text = logged()
    assert token not in text
    assert token.split(":")[0] not in text
    assert REDACTED in text


def _patterns(resolver: URLResolver) -> Iterator[URLPattern]:
    for entry in resolver.url_patterns:
        if isinstance(entry, URLResolver):
            yield from _patterns(entry)
        else:
            yield entry


CAPABILITY_WORDS = ("token", "key", "sig", "secret", "uid", "code")


def test_every_url_that_takes_a_capability_is_listed_and_resolves() -> None:
    """A page whose URL carries a non-numeric token, key, signature... (a password-reset
    link, say) must be in CAPABILITY_URLS, or its links would be logged."""
    taking = {}
    for pattern in _patterns(get_resolver()):
        converters = getattr(pattern.pattern, "converters", {})
        for argument in pattern.pattern.regex.groupindex:
            capability = any(word in argument.lower() for word in CAPABILITY_WORDS)
            if capability and not isinstance(converters.get(argument), IntConverter):
                taking[pattern.name] = argument

    assert taking == CAPABILITY_URLS


def test_the_page_session_cookie_never_reaches_a_log(
    buyer: User, logged: Logged, hold_rate_clock: Callable[[int], None]
) -> None:
    """With SQL logged with its parameters, a session's cookie value must not appear: the
    session table is queried by the key's hash (class 5)."""
    hold_rate_clock(login_throttle.WINDOW_SECONDS)
    browser = Client()
    assert browser.post("/login", {"email": buyer.email, "password": PASSWORD}).status_code == 302
    cookie = browser.cookies[settings.SESSION_COOKIE_NAME].value
    assert browser.get("/account").status_code == 200
    browser.post("/logout")

    text = logged()
    assert "django.db.backends" in text
    assert cookie not in text


def test_the_dev_servers_request_lines_go_through_the_redacting_handler() -> None:
    """runserver logs each request line on `django.server`, which Django gives a handler of
    its own: without ours in its place, a signed link would be printed as it was requested."""
    handlers: list[logging.Handler] = []
    logger: logging.Logger | None = logging.getLogger("django.server")
    while logger is not None:  # every handler a django.server record reaches
        handlers += [h for h in logger.handlers if not type(h).__module__.startswith("_pytest")]
        logger = logger.parent if logger.propagate else None

    assert handlers
    assert all(isinstance(h.formatter, JsonFormatter) and h.filters for h in handlers), handlers


def test_a_password_reset_link_never_reaches_a_log(buyer: User, logged: Logged) -> None:
    """The link's token sets the account's password: opening it and using it log neither."""
    token = password_reset_token(buyer)
    browser = Client()
    page = f"/reset-password/{token}"

    assert browser.get(page).status_code == 200
    new = "a-new-passphrase-42"
    assert browser.post(page, {"new_password": new, "new_password_again": new}).status_code == 302

    output = logged()
    assert "reset-password/" in output  # the requests were logged...
    assert token not in output and token.partition(".")[2] not in output  # ...not the token

"""Issue 14, class 9: the API answers in JSON even when it fails.

An unexpected error anywhere in a request under /api/ (a view, a service, authentication, a
middleware such as the response cache) is a 500 `{"detail", "code": "server_error"}`; a
database that cannot be reached is a 503 `{"code": "unavailable"}` with `Retry-After`. The
body tells nothing of the error; the log line does, with the request id. Unknown paths,
methods and requests Django refuses before any view are JSON too. Pages keep their HTML.

Every request here goes through the whole middleware stack with DEBUG off, as in production,
and the test client answers what the server would instead of re-raising the error.
"""

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.db import OperationalError
from django.test import Client
from rest_framework.renderers import JSONRenderer

from accounts.models import User
from core.api import exception_handler
from core.errors import ServiceUnavailable
from tests.factories import UserFactory, bearer_token, make_listing
from tests.outages import database_down, logged_through_the_configured_handler

pytestmark = pytest.mark.django_db

SERVER_ERROR = {"detail": "A server error occurred.", "code": "server_error"}
UNAVAILABLE = {"detail": "Temporarily unavailable. Try again shortly.", "code": "unavailable"}
NOT_FOUND = {"detail": "Not found."}
# What the errors raised below say: none of it may reach a response.
INTERNALS = "password=hunter2 at /srv/agora/orders/services.py"

Lines = Callable[[], list[dict[str, Any]]]


@pytest.fixture
def web(settings: Any) -> Client:
    settings.DEBUG = False
    return Client(raise_request_exception=False)


@pytest.fixture
def log_lines() -> Iterator[Lines]:
    """The JSON lines logged while the test runs, as the configured handler writes them."""
    with logged_through_the_configured_handler() as stream:
        yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]


def _raises(error: BaseException) -> Callable[..., Any]:
    def fail(*args: Any, **kwargs: Any) -> Any:
        raise error

    return fail


def _bearer(user: User) -> dict[str, str]:
    return {"Authorization": f"Bearer {bearer_token(user)}"}


def _assert_json(response: Any, status: int, body: dict[str, Any]) -> None:
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/json"
    assert response.json() == body


# --- unexpected errors: 500 -------------------------------------------------------------------


@pytest.mark.parametrize(
    "error", [RuntimeError(INTERNALS), RecursionError(INTERNALS)], ids=["runtime", "recursion"]
)
@pytest.mark.parametrize("accept", ["application/json", "text/html", "*/*"])
def test_an_error_in_a_service_is_a_json_500_logged_with_the_request_id(
    web: Client,
    log_lines: Lines,
    monkeypatch: pytest.MonkeyPatch,
    buyer: User,
    error: BaseException,
    accept: str,
) -> None:
    listing = make_listing(units=5)
    monkeypatch.setattr("orders.services.order_create", _raises(error))

    response = web.post(
        "/api/v1/orders",
        {"listing_id": listing.pk, "units": 1},
        content_type="application/json",
        headers={**_bearer(buyer), "Accept": accept},
    )

    _assert_json(response, 500, SERVER_ERROR)
    assert "hunter2" not in response.content.decode()
    [logged] = [line for line in log_lines() if line["level"] == "ERROR"]
    assert logged["request_id"] == response["X-Request-ID"]
    assert logged["message"] == "Internal Server Error: /api/v1/orders"
    assert type(error).__name__ in logged["exception"]


def test_an_error_while_authenticating_is_a_json_500(
    web: Client, monkeypatch: pytest.MonkeyPatch, buyer: User
) -> None:
    headers = _bearer(buyer)
    monkeypatch.setattr(
        "accounts.authentication.api_session_authenticate", _raises(RuntimeError(INTERNALS))
    )

    _assert_json(web.get("/api/v1/auth/me", headers=headers), 500, SERVER_ERROR)


def test_an_error_in_the_response_cache_middleware_is_a_json_500(
    web: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("listings.response_cache.lookup", _raises(RuntimeError(INTERNALS)))

    _assert_json(web.get("/api/v1/listings"), 500, SERVER_ERROR)


# --- the database: 503 ------------------------------------------------------------------------


def test_a_database_error_is_a_503_to_retry(
    web: Client, monkeypatch: pytest.MonkeyPatch, buyer: User
) -> None:
    listing = make_listing(units=5)
    monkeypatch.setattr(
        "orders.services.order_create",
        _raises(OperationalError("connection to server at 10.0.0.5 failed")),
    )

    response = web.post(
        "/api/v1/orders",
        {"listing_id": listing.pk, "units": 1},
        content_type="application/json",
        headers=_bearer(buyer),
    )

    _assert_json(response, 503, UNAVAILABLE)
    assert int(response["Retry-After"]) > 0


@pytest.mark.django_db(transaction=True)
def test_the_database_down_is_a_json_503_for_every_kind_of_caller(
    web: Client, require_postgres: None
) -> None:
    user = UserFactory.create()
    bearer = _bearer(user)
    browser = Client(raise_request_exception=False)
    browser.force_login(user)
    login = json.dumps({"email": user.email, "password": "anything-at-all"})

    with database_down():
        answers = {
            "anonymous browse": web.get("/api/v1/listings"),
            "bearer": web.get("/api/v1/orders", headers=bearer),
            "browser session": browser.get("/api/v1/auth/me"),
            "login": web.post("/api/v1/auth/login", login, content_type="application/json"),
        }

    for caller, response in answers.items():
        assert response.status_code == 503, (caller, response.content)
        assert response["Content-Type"] == "application/json", caller
        assert response.json() == UNAVAILABLE, caller
        assert int(response["Retry-After"]) > 0, caller


def test_a_rule_refusing_during_an_outage_says_when_to_retry() -> None:
    """A service's own 503 (login while the cache is down) carries Retry-After as well."""
    response = exception_handler(ServiceUnavailable("Login is temporarily unavailable."), {})

    assert response is not None
    assert response.status_code == 503
    assert int(response["Retry-After"]) > 0


# --- refusals outside the API's views ---------------------------------------------------------


@pytest.mark.parametrize("path", ["/api/", "/api/v2/orders", "/api/v1x", "/api/admin/"])
def test_unknown_paths_under_api_are_a_json_404(web: Client, path: str) -> None:
    _assert_json(web.get(path, headers={"Accept": "text/html"}), 404, NOT_FOUND)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("put", "/api/v1/schema/"),
        ("post", "/api/v1/docs/"),
        ("delete", "/api/v1/listings"),
        ("get", "/api/v1/payments/stripe/webhook"),
        ("patch", "/api/v1/orders"),
    ],
)
def test_methods_an_api_route_does_not_allow_are_a_json_405(
    web: Client, buyer: User, method: str, path: str
) -> None:
    response = getattr(web, method)(path, headers=_bearer(buyer))

    assert response.status_code == 405, response.content
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"detail": f'Method "{method.upper()}" not allowed.'}


def test_a_body_over_the_upload_limit_is_a_json_400(web: Client, settings: Any) -> None:
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    body = json.dumps({"email": "a@b.example", "password": "x" * 2000})

    response = web.post("/api/v1/auth/login", body, content_type="application/json")

    _assert_json(response, 400, {"detail": "The request body is too large."})


def test_too_many_query_parameters_are_a_json_400(web: Client, settings: Any) -> None:
    settings.DATA_UPLOAD_MAX_NUMBER_FIELDS = 10

    response = web.get("/api/v1/listings", {f"p{n}": "1" for n in range(20)})

    _assert_json(response, 400, {"detail": "Too many parameters."})


def test_a_host_not_allowed_is_a_json_400(web: Client, buyer: User) -> None:
    response = web.get("/api/v1/auth/me", headers={**_bearer(buyer), "Host": "evil.example"})

    _assert_json(response, 400, {"detail": "Invalid Host header."})


# --- pages keep Django's pages ----------------------------------------------------------------


def test_pages_keep_their_html_error_pages(web: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    missing = web.get("/no-such-page")
    assert missing.status_code == 404
    assert missing["Content-Type"].startswith("text/html")

    monkeypatch.setattr("listings.views.render", _raises(RuntimeError(INTERNALS)))
    failed = web.get("/")
    assert failed.status_code == 500
    assert failed["Content-Type"].startswith("text/html")
    assert "hunter2" not in failed.content.decode()


def test_a_browser_asking_the_api_for_html_gets_the_browsable_page_for_a_4xx(
    web: Client,
) -> None:
    """Negotiation still holds for refusals a person reads in the browsable API."""
    response = web.get("/api/v1/orders", headers={"Accept": "text/html"})

    assert response.status_code == 401
    assert response["Content-Type"].startswith("text/html")
    assert JSONRenderer.media_type not in response["Content-Type"]

"""The Content-Security-Policy header: every response carries the policy that applies to it,
a view's own included, and a nonce is fresh each time."""

from typing import Any, cast

import pytest
from django.http import HttpRequest, HttpResponse
from django.middleware.csp import ContentSecurityPolicyMiddleware
from django.test import Client, RequestFactory
from django.utils.csp import CSP, build_policy

pytestmark = pytest.mark.django_db
HEADER = "Content-Security-Policy"


def test_pages_and_api_carry_the_settings_policy_and_the_api_docs_their_own(
    settings: Any,
) -> None:
    client = Client()
    expected = build_policy(settings.SECURE_CSP)
    urls = ["/healthz", "/api/v1/docs/", "/api/v1/listings", "/", "/api/v1/docs/", "/healthz"]

    headers = [client.get(url)[HEADER] for url in urls]

    docs = {headers[1], headers[4]}
    assert len(docs) == 1 and "'unsafe-inline'" in docs.pop()
    assert [headers[i] for i in (0, 2, 3, 5)] == [expected] * 4
    assert "'unsafe-inline'" not in expected


def test_a_changed_setting_is_the_policy_from_the_next_response(settings: Any) -> None:
    client = Client()
    assert "img-src 'self' data:" in client.get("/healthz")[HEADER]

    settings.SECURE_CSP = {**settings.SECURE_CSP, "img-src": [CSP.SELF]}

    assert "img-src 'self';" in client.get("/healthz")[HEADER]


def test_a_policy_with_a_nonce_carries_each_responses_own_nonce(settings: Any) -> None:
    settings.SECURE_CSP = {"script-src": [CSP.SELF, CSP.NONCE]}

    def page(request: HttpRequest) -> HttpResponse:
        return HttpResponse(f"<script nonce='{request._csp_nonce}'></script>")  # type: ignore[attr-defined]

    middleware = ContentSecurityPolicyMiddleware(page)
    responses = [cast(HttpResponse, middleware(RequestFactory().get("/"))) for _ in range(2)]

    nonces = [r[HEADER].split("'nonce-")[1].split("'")[0] for r in responses]
    assert nonces[0] != nonces[1]
    assert all(f"nonce='{n}'" in r.content.decode() for n, r in zip(nonces, responses, strict=True))


def test_a_report_only_policy_is_sent_beside_the_enforced_one(settings: Any) -> None:
    settings.SECURE_CSP_REPORT_ONLY = {"default-src": [CSP.NONE]}

    response = Client().get("/healthz")

    assert response["Content-Security-Policy-Report-Only"] == "default-src 'none'"
    assert response[HEADER] == build_policy(settings.SECURE_CSP)

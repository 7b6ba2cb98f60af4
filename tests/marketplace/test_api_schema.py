"""§7: the OpenAPI schema stays valid and complete, and its docs page works offline."""

import re

import pytest
from django.core.management import call_command
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db


def _api_routes() -> set[str]:
    """Every /api/v1/ route, spelled as OpenAPI paths (`{listing_id}`)."""
    api = next(
        p
        for p in get_resolver().url_patterns
        if isinstance(p, URLResolver) and str(p.pattern) == "api/v1/"
    )
    routes = set()
    for pattern in api.url_patterns:
        assert isinstance(pattern, URLPattern)
        route = str(pattern.pattern)
        if route.startswith(("schema", "docs")) or pattern.name == "not-found":
            continue
        routes.add("/api/v1/" + re.sub(r"<int:(\w+)>", r"{\1}", route))
    return routes


def test_schema_is_valid_openapi(tmp_path: object) -> None:
    # --validate checks against the OpenAPI 3 JSON schema; warnings fail the build.
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", "/dev/null")


def test_schema_documents_every_api_route(api: APIClient) -> None:
    response = api.get("/api/v1/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    schema = response.json()
    assert set(schema["paths"]) == _api_routes()
    assert "bearerSession" in schema["components"]["securitySchemes"]
    order = schema["components"]["schemas"]["OrderCreateRequest"]
    assert set(order["required"]) == {"listing_id", "units"}


def test_docs_page_uses_no_external_assets() -> None:
    response = Client().get("/api/v1/docs/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "swagger-ui" in html
    assert not re.search(r"""(src|href)=["']https?://""", html)

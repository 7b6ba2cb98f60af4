"""Whole responses of anonymous API listing reads, served before the rest of the stack.

Most of a listing read's CPU is the middleware, URL routing, DRF, the browse form and the JSON
encoder, not the database (docs/benchmarks.md). So for the API, the cache keeps responses,
not data: this middleware sits right after the request log and answers a repeated anonymous
read with the bytes, status and headers the full stack produced for it under the same
listing generation (listings.cache), so every listing change still shows on the next read.
Pages, whose HTML carries a per-response CSP nonce, cache their data instead.

Only a response its view marked public (`public_response`) is stored, and only a 200 of JSON
without cookies: a redirect, an error, a throttled answer or a browsable-API page always goes
through the stack. A lookup is keyed by everything such a response depends on: the scheme
(absolute links, and SecurityMiddleware's HSTS header only over https), the host as Django
reads it (absolute links; a host outside ALLOWED_HOSTS is never looked up, so it still gets
Django's 400), the path with its query (filters, page, `format`), and the Accept header (the
renderer and its parameters, e.g. `indent`). Nothing else shapes it: no middleware here varies
by language, encoding or Origin. Requests carrying credentials (an Authorization header or a
session cookie) are never looked up, since their answer may differ by user.
A hit still counts against API_RATE_LIMIT; a client over it goes through the stack and
gets DRF's 429.
"""

from collections.abc import Callable

from django.conf import settings
from django.core.exceptions import DisallowedHost
from django.http import HttpRequest, HttpResponse
from rest_framework.request import Request
from rest_framework.response import Response

from core.api_throttle import anonymous_client, rate_limited
from listings.cache import lookup, store

CACHED_PATHS = "/api/v1/listings"
_PUBLIC = "agora_public"  # the attribute a view sets on a response it marks public


def public_response(request: Request, response: Response) -> Response:
    """Mark the response of a public read for an anonymous reader, so the middleware keeps
    its bytes for the next one. The only cache of these reads: their views read the
    database, once per listing generation and request shape."""
    setattr(response, _PUBLIC, not request.user.is_authenticated)
    return response


class PublicResponseCacheMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        name = _name(request) if _anonymous_read(request) else None
        if name is None:
            return self.get_response(request)
        found = lookup(name)
        if found is None:  # the cache is unreachable
            return self.get_response(request)
        key, stored = found
        if stored is not None and rate_limited(anonymous_client(request)) is None:
            return _replay(stored)
        response = self.get_response(request)
        if stored is None and _storable(response):
            store(key, _frozen(response))
        return response


def _anonymous_read(request: HttpRequest) -> bool:
    return (
        request.method == "GET"
        and request.path.startswith(CACHED_PATHS)
        and "HTTP_AUTHORIZATION" not in request.META
        and settings.SESSION_COOKIE_NAME not in request.COOKIES
    )


def _name(request: HttpRequest) -> str | None:
    """What the response depends on; None for a host Django refuses (the stack says 400)."""
    try:
        host = request.get_host()
    except DisallowedHost:
        return None
    accept = request.META.get("HTTP_ACCEPT", "")
    return f"response:{request.scheme}://{host}{request.get_full_path()} {accept}"


def _storable(response: HttpResponse) -> bool:
    return (
        getattr(response, _PUBLIC, False)
        and response.status_code == 200
        and not response.cookies
        and response.get("Content-Type", "").startswith("application/json")
    )


def _frozen(response: HttpResponse) -> tuple[bytes, list[tuple[str, str]]]:
    return response.content, list(response.items())


def _replay(stored: tuple[bytes, list[tuple[str, str]]]) -> HttpResponse:
    content, headers = stored
    response = HttpResponse(content)
    for header, value in headers:
        response[header] = value
    return response

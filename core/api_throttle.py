"""API_RATE_LIMIT for the API (SPEC §10).

It fails open: if the cache is unreachable, requests go through (logged), so a Redis outage
never stops buyers; the failed-login throttle (accounts.login_throttle) fails closed instead.

A process counts a busy client's hits in Redis a few at a time: it adds a lease of up to
LEASE_LIMIT hits at once and lets that many of the client's requests through before it asks
again: the Redis round trip, a visible share of a purchase's CPU (docs/benchmarks.md), is
paid once in LEASE_LIMIT requests. The count stays shared by every process, and it can only
run ahead of the requests served, never behind: a client is refused at the limit or before
it, by at most its unused leases, one per process, each at most 1% of the limit (a limit
under 100 a window is counted one hit at a time, exactly).
"""

import logging
from typing import TYPE_CHECKING

from django.conf import settings
from django.http import HttpRequest
from rest_framework.throttling import BaseThrottle

from core.rate_limit import Rate, count_hit, window
from core.redis_cache import log_cache_failure
from core.request_origin import client_ip

if TYPE_CHECKING:  # DRF imports this module while rest_framework.views is loading
    from rest_framework.request import Request
    from rest_framework.views import APIView

logger = logging.getLogger(__name__)

LEASE_LIMIT = 16
# This process's unused leased hits, by counter key; dropped when the window or the rate
# changes.
_leases: dict[str, int] = {}
_leased_under: list[tuple[int, Rate] | None] = [None]


def rate_limited(client: str) -> int | None:
    """Count one API request of `client` (a session, user or IP key); over API_RATE_LIMIT,
    the seconds until its window ends, else None."""
    rate: Rate | None = settings.API_RATE_LIMIT
    if rate is None:
        return None
    index, retry_after = window(rate.seconds)
    if _leased_under[0] != (index, rate):
        _leases.clear()
        _leased_under[0] = (index, rate)
    key = f"api-rate:{client}:{index}"
    if _leases.get(key, 0) > 0:
        _leases[key] -= 1
        return None
    lease = max(1, min(LEASE_LIMIT, rate.requests // 100))
    try:
        total = count_hit(key, rate.seconds, lease)
    except Exception:  # any backend error: fail open, buyers keep buying
        log_cache_failure(logger, "API rate limit cache unavailable; request allowed")
        return None
    within_limit = min(lease, rate.requests - (total - lease))
    if within_limit <= 0:
        return retry_after
    _leases[key] = within_limit - 1
    return None


def anonymous_client(request: HttpRequest) -> str:
    return f"ip:{client_ip(request) or 'unknown'}"


class ApiRateThrottle(BaseThrottle):
    """API_RATE_LIMIT per API session, per signed-in browser, or per IP for anonymous
    clients; over it, 429 with Retry-After (the end of the window)."""

    def __init__(self) -> None:
        self.retry_after: int | None = None

    def allow_request(self, request: "Request", view: "APIView") -> bool:
        self.retry_after = rate_limited(self._client(request))
        return self.retry_after is None

    def wait(self) -> float | None:
        return self.retry_after

    @staticmethod
    def _client(request: "Request") -> str:
        credential = getattr(request.auth, "pk", None)  # a Bearer session (API keys later)
        if credential is not None:
            return f"{type(request.auth).__name__.lower()}:{credential}"
        if request.user is not None and request.user.is_authenticated:
            return f"user:{request.user.pk}"
        return anonymous_client(request._request)

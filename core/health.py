"""Liveness and readiness probes for load balancers and orchestrators."""

import logging

from django.core.cache import cache
from django.db import DatabaseError, connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from core.redis_cache import log_cache_failure

logger = logging.getLogger(__name__)

READY_PROBE_KEY = "readyz:probe"


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """The process is up and serving; says nothing about its dependencies."""
    return JsonResponse({"status": "ok"})


@never_cache
@require_GET
def readyz(request: HttpRequest) -> JsonResponse:
    """Ready for traffic when the database answers: 503 without it. A cache that is down or
    hung only degrades the app (listing reads go to the database, the API throttle lets
    requests through, logins answer 503), and every process shares it, so taking processes
    out of rotation would not help: that is a 200 saying "degraded"."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except DatabaseError:
        logger.warning("readiness check failed: database unreachable")
        return JsonResponse({"status": "unavailable", "database": "down"}, status=503)
    if not _cache_answers():
        return JsonResponse({"status": "degraded", "database": "up", "cache": "degraded"})
    return JsonResponse({"status": "ok", "database": "up", "cache": "up"})


def _cache_answers() -> bool:
    """One read, bounded by the cache's timeouts; at once while its circuit is open."""
    try:
        cache.get(READY_PROBE_KEY)
    except Exception:  # any backend error: the cache is not serving
        log_cache_failure(logger, "readiness check: cache unavailable")
        return False
    return True

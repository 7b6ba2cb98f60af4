"""One log line per request (method, path, status, duration, user id, request id), and the
request id returned as `X-Request-ID`: the client's own when it sent a sane one, so a request
can be followed from a load balancer or a client's logs into ours. A path that is a capability
(a signed checkout link) is written with its secret segment redacted, by the handler's filter
(core/log_format.py), like every other line."""

import logging
import re
import time
import uuid
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from core.log_format import reset_request_context

logger = logging.getLogger("agora.request")

REQUEST_ID_HEADER = "X-Request-ID"
# Anything else (too long, odd characters) is replaced rather than echoed into logs.
ACCEPTABLE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")


def _request_id(request: HttpRequest) -> str:
    offered = request.headers.get(REQUEST_ID_HEADER, "")
    return offered if ACCEPTABLE_REQUEST_ID.fullmatch(offered) else uuid.uuid4().hex


def _user_id(request: HttpRequest) -> int | None:
    user = getattr(request, "user", None)
    return user.pk if user is not None and user.is_authenticated else None


class RequestLogMiddleware:
    """Goes first, so the duration covers every other middleware and the id is set early."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request_id = _request_id(request)
        reset_request_context(request_id)
        started = time.perf_counter()
        response = self.get_response(request)
        response[REQUEST_ID_HEADER] = request_id
        logger.info(
            "%s %s %s",
            request.method,
            request.path,
            response.status_code,
            extra={
                "method": request.method,
                "path": request.path,
                "status": response.status_code,
                "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                "user_id": _user_id(request),
            },
        )
        return response

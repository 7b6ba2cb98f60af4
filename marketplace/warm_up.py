"""Warm the app in gunicorn's master, so that every worker forked from it starts warm.

A worker's first purchase took 125 ms in a fresh process, against 2 ms for the next ones:
Django fills its URL resolver, DRF its settings and renderers, and we compile the session
lookup, all on first use. gunicorn replaces each worker after max_requests, so under load a
cold worker every few seconds was what made the hot listing's p99 (docs/benchmarks.md).
Read-only requests through the app in the master do that work once; a worker then pays
only for its own connections (~10 ms on its first request).

Nothing here writes: an anonymous browse, and two API calls with a token that cannot exist
(refused with 401 after the session lookup runs). A failure (no database yet) is logged and
the server starts all the same: the workers then warm up on their own, as before.
"""

import io
import logging
import sys
from collections.abc import Callable, Iterable
from typing import Any

from accounts.session_tokens import SESSION_TOKEN_PREFIX

logger = logging.getLogger(__name__)

REQUEST_ID = "warm-up"
# Shaped like a session token, so the lookup runs, but never issued: refused with 401.
UNKNOWN_TOKEN = f"{SESSION_TOKEN_PREFIX}warm-up"
REQUESTS = [
    ("GET", "/healthz", None),
    ("GET", "/api/v1/listings", None),
    ("POST", "/api/v1/orders", UNKNOWN_TOKEN),
    ("GET", "/api/v1/tokens", UNKNOWN_TOKEN),
]

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def warm_up(application: WsgiApp) -> list[str]:
    """Send the warm-up requests through `application`; the status of each."""
    host = _allowed_host()
    statuses: list[str] = []

    def start_response(status: str, headers: Any, exc_info: Any = None) -> Any:
        statuses.append(status)

    for method, path, token in REQUESTS:
        environ: dict[str, Any] = {
            "REQUEST_METHOD": method, "PATH_INFO": path, "QUERY_STRING": "",
            "SERVER_NAME": host, "SERVER_PORT": "443", "HTTP_HOST": host,
            "wsgi.url_scheme": "https", "REMOTE_ADDR": "127.0.0.1",
            "HTTP_X_REQUEST_ID": REQUEST_ID, "CONTENT_TYPE": "application/json",
            "CONTENT_LENGTH": "2", "wsgi.input": io.BytesIO(b"{}"), "wsgi.errors": sys.stderr,
        }  # fmt: skip
        if token is not None:
            environ["HTTP_AUTHORIZATION"] = f"Bearer {token}"
        try:
            response = application(environ, start_response)
            b"".join(response)
            getattr(response, "close", lambda: None)()
        except Exception:
            logger.exception(
                "warm-up request %s %s failed; workers will warm up alone", method, path
            )
            break
    return statuses


def _allowed_host() -> str:
    """A host the app answers for (any other would be refused before the views run)."""
    from django.conf import settings

    host = next(iter(settings.ALLOWED_HOSTS), "localhost")
    return "localhost" if host == "*" else host.lstrip(".")

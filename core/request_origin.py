"""Who is asking from where: the audit trail's view of a request."""

from dataclasses import dataclass

from django.http import HttpRequest


@dataclass(frozen=True)
class RequestOrigin:
    """Where a request came from, for the audit log."""

    ip: str | None
    user_agent: str


def request_origin(request: HttpRequest) -> RequestOrigin:
    return RequestOrigin(
        ip=client_ip(request), user_agent=request.META.get("HTTP_USER_AGENT", "")[:200]
    )


def client_ip(request: HttpRequest) -> str | None:
    """The peer address; proxies' X-Forwarded-For is not trusted (see docs/decisions.md)."""
    return request.META.get("REMOTE_ADDR") or None

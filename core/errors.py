"""Domain errors raised by services and turned into responses in one place.

Services know nothing of HTTP; each error carries the status an API client should see so the
DRF exception handler (core.api) and the page helper render them the same way.
"""


class DomainError(Exception):
    """A rule of the marketplace refused the request; the message is safe to show users."""

    status_code = 409
    code = "conflict"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class InvalidInput(DomainError):
    status_code = 400
    code = "invalid"


class NotFound(DomainError):
    status_code = 404
    code = "not_found"


class Forbidden(DomainError):
    status_code = 403
    code = "forbidden"


class Throttled(DomainError):
    status_code = 429
    code = "throttled"

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class ServiceUnavailable(DomainError):
    status_code = 503
    code = "unavailable"

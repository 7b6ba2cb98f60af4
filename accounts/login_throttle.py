"""Failed-login counters per account and per IP, kept in the shared cache.

Counters are atomic (`add` then `incr`) so parallel guesses on several app processes all
count. If the cache cannot be reached, logins fail closed: an attacker must not get unlimited
guesses because Redis is down. Buying with an existing session never touches this module.
"""

import hashlib
import logging

from django.conf import settings
from django.core.cache import cache

from marketplace.errors import ServiceUnavailable, Throttled
from marketplace.rate_limit import count_hit
from marketplace.rate_limit import window as fixed_window

logger = logging.getLogger(__name__)

WINDOW_SECONDS = 15 * 60
_MESSAGE = "Too many failed logins. Try again later."


def _keys(email: str, ip: str | None, window: int) -> tuple[str, str]:
    # Hash the email so cache keys neither leak it nor break on odd characters.
    account = hashlib.sha256(email.encode()).hexdigest()
    return f"login-fail:acct:{account}:{window}", f"login-fail:ip:{ip or 'unknown'}:{window}"


def login_allowed_or_raise(*, email: str, ip: str | None) -> None:
    window, retry_after = fixed_window(WINDOW_SECONDS)
    account_key, ip_key = _keys(email, ip, window)
    try:
        counts = cache.get_many([account_key, ip_key])
    except Exception:  # any backend error: the cache is unusable, so fail closed
        logger.exception("login throttle cache unavailable")
        raise ServiceUnavailable("Login is temporarily unavailable. Try again shortly.") from None
    if (
        counts.get(account_key, 0) >= settings.LOGIN_FAILURE_LIMIT
        or counts.get(ip_key, 0) >= settings.LOGIN_IP_FAILURE_LIMIT
    ):
        raise Throttled(_MESSAGE, retry_after=retry_after)


def login_failure_record(*, email: str, ip: str | None) -> None:
    window, _ = fixed_window(WINDOW_SECONDS)
    try:
        for key in _keys(email, ip, window):
            count_hit(key, WINDOW_SECONDS)
    except Exception:
        logger.exception("login throttle cache unavailable while counting a failure")
        raise ServiceUnavailable("Login is temporarily unavailable. Try again shortly.") from None


def login_failures_reset(*, email: str) -> None:
    """A successful login clears the account's counter (the IP's keeps counting)."""
    window, _ = fixed_window(WINDOW_SECONDS)
    account_key, _ip_key = _keys(email, None, window)
    try:
        cache.delete(account_key)
    except Exception:
        logger.exception("login throttle cache unavailable while resetting")

"""Failed-login counters per account and per IP, kept in the shared cache.

Every attempt is counted before its password is checked: the counters go up atomically
(one `add_and_incr` each), so each of N attempts made at once gets its own number, and only
those within the limits go on to check a password. N parallel guesses on any number of app
processes therefore check at most LOGIN_FAILURE_LIMIT passwords per account (and
LOGIN_IP_FAILURE_LIMIT per IP) in a window. A refused attempt counts too: it is a guess.
A right password clears the account's counter and takes its own attempt back off the IP's,
so the IP's counts what failed.

If the cache cannot be reached, logins fail closed: an attacker must not get unlimited
guesses because Redis is down. Buying with an existing session never touches this module.
"""

import hashlib
import logging
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache

from core.errors import ServiceUnavailable, Throttled
from core.rate_limit import count_hit
from core.rate_limit import window as fixed_window
from core.redis_cache import log_cache_failure

logger = logging.getLogger(__name__)

WINDOW_SECONDS = 15 * 60
_MESSAGE = "Too many failed logins. Try again later."


@dataclass(frozen=True)
class LoginAttempt:
    """An attempt counted in one window: its success is taken back in that same window."""

    account_key: str
    ip_key: str


def _keys(email: str, ip: str | None, window: int) -> LoginAttempt:
    # Hash the email so cache keys neither leak it nor break on odd characters.
    account = hashlib.sha256(email.encode()).hexdigest()
    return LoginAttempt(
        account_key=f"login-fail:acct:{account}:{window}",
        ip_key=f"login-fail:ip:{ip or 'unknown'}:{window}",
    )


def login_attempt_count_or_raise(*, email: str, ip: str | None) -> LoginAttempt:
    """Count one attempt for the account and the IP; Throttled (429) when either count is
    over its limit, ServiceUnavailable (503) when the cache cannot count it. Call before
    checking the password."""
    window, retry_after = fixed_window(WINDOW_SECONDS)
    attempt = _keys(email, ip, window)
    try:
        by_account = count_hit(attempt.account_key, WINDOW_SECONDS)
        by_ip = count_hit(attempt.ip_key, WINDOW_SECONDS)
    except Exception:  # any backend error: the cache is unusable, so fail closed
        log_cache_failure(logger, "login throttle cache unavailable")
        raise ServiceUnavailable("Login is temporarily unavailable. Try again shortly.") from None
    if by_account > settings.LOGIN_FAILURE_LIMIT or by_ip > settings.LOGIN_IP_FAILURE_LIMIT:
        raise Throttled(_MESSAGE, retry_after=retry_after)
    return attempt


def login_attempt_succeeded(attempt: LoginAttempt) -> None:
    """The password was right: the account's counter starts again, and this attempt no
    longer counts against the IP."""
    try:
        cache.delete(attempt.account_key)
        count_hit(attempt.ip_key, WINDOW_SECONDS, -1)
    except Exception:
        log_cache_failure(logger, "login throttle cache unavailable while resetting")

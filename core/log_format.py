"""Structured logs: one JSON object per line, carrying the request id, with secrets redacted.

Redaction works three ways. Values the code knows are secret (vault plaintexts it sealed or
unsealed, passwords it checked) are registered for the current request with
`mark_sensitive` and replaced wherever they appear; values that look like credentials by
their shape (session tokens, Stripe keys, Bearer headers, vault key entries) are replaced by
pattern; and links that are themselves capabilities lose their secret part: the path segment
of the pages in CAPABILITY_URLS (signed checkout links), and query parameters whose name says
token, key, signature and the like. The filter sits on the handler, so it sees every record
from every logger (Django's "Not Found: <path>", the Stripe SDK's URLs, our request lines),
and gunicorn's own loggers get it too (gunicorn.conf.py).
"""

import json
import logging
import re
import threading
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from django.urls import get_script_prefix, reverse

REDACTED = "[redacted]"
# Shorter values are too likely to be ordinary words to be replaced everywhere.
MIN_SENSITIVE_LENGTH = 6
MAX_SENSITIVE_VALUES = 1000

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)
_sensitive: ContextVar[frozenset[str]] = ContextVar("sensitive_values", default=frozenset())

# Pages whose link grants access to whoever holds it, by URL name, with the keyword argument
# that carries the secret: that path segment is redacted. A page added with such an argument
# must be listed here (tests/marketplace/test_capability_logs.py walks the URLconf to check).
CAPABILITY_URLS = {
    "checkout-dev": "token",  # orders/checkout_links.py: the signed order id
    "checkout-success": "token",
    "checkout-cancel": "token",
    "password-reset-confirm": "token",  # accounts/password_reset.py: a one-time reset link
    "verify-email": "token",  # accounts/address_check.py: the signed address check
}
# A query parameter whose name contains one of these words has its value redacted.
CAPABILITY_PARAMETER_WORDS = ("token", "key", "sig", "secret", "pass", "auth", "code", "session")

# The parts of a pattern that keep what they match are its capturing groups (a scheme, a
# parameter's name, a path's prefix); what follows them in the match is replaced.
_CREDENTIAL_PATTERNS = [
    r"\bagora_[a-z]_[A-Za-z0-9_-]+",  # credentials we issue: agora_<kind>_ (sessions: s)
    r"\b(?:sk|rk|pk)_(?:live|test)_[A-Za-z0-9]+",  # Stripe API keys
    r"\bwhsec_[A-Za-z0-9]+",  # Stripe webhook secrets
    r"(?i:(bearer\s+))\S+",  # the scheme is kept
    r"\b[\w-]{1,32}:[A-Za-z0-9+/]{43}=",  # a VAULT_KEYS entry (kid:base64 key)
    # ?token=..., &api_key=..., ;signature=...: the name is kept, the value goes.
    r"(?i:([?&;][\w.\[\]-]*?(?:{words})[\w.\[\]-]*=))[^&#\s\"'<>]*".format(
        words="|".join(CAPABILITY_PARAMETER_WORDS)
    ),
]
# One pattern: each line is scanned once.
CREDENTIALS = re.compile("|".join(_CREDENTIAL_PATTERNS))

# A slash, also as written in a URL-encoded parameter (the Stripe SDK's debug lines) or in
# JSON that escapes it; a path segment ends at the next one, or where a URL ends.
_SLASH = r"\\?(?:/|%2[Ff])"
_SEGMENT = r"(?:[^/?#&\s\"'<>%\\]|%(?!2[Ff]))+"
_PLACEHOLDER = "CAPABILITY"

# Fields a record may carry (`logger.info(..., extra={...})`) that go into the JSON object.
EXTRA_FIELDS = ("method", "path", "status", "duration_ms", "user_id", "event_id", "order_id")


def mark_sensitive(*values: str) -> None:
    """Redact these values from every log line written for the rest of this request."""
    current = _sensitive.get()
    fresh = {v for v in values if len(v) >= MIN_SENSITIVE_LENGTH} - current
    if fresh and len(current) < MAX_SENSITIVE_VALUES:
        _sensitive.set(current | fresh)


def reset_request_context(request_id: str | None) -> None:
    """Start a request: its id, and nothing marked sensitive yet."""
    request_id_var.set(request_id)
    _sensitive.set(frozenset())


def capability_path_prefixes() -> tuple[set[str], bool]:
    """The literal start, up to the secret segment, of each path in CAPABILITY_URLS, read
    from the URLconf (so a moved route stays covered), and whether every name was found."""
    prefixes, complete = set(), True
    script_prefix = get_script_prefix()
    for name, argument in CAPABILITY_URLS.items():
        try:
            path = reverse(name, kwargs={argument: _PLACEHOLDER})
        except Exception:  # the URLconf is not loadable yet, or the name is gone
            complete = False
            continue
        prefix = path[: path.index(_PLACEHOLDER)].removeprefix(script_prefix)
        prefixes.add("/" + prefix.lstrip("/"))  # matched under whatever prefix it is mounted
    return prefixes, complete


_line_pattern: re.Pattern[str] | None = None
_building = threading.local()


def _pattern() -> re.Pattern[str]:
    """CREDENTIALS and the capability paths, built on first use: the URLconf is not loaded
    when logging is configured. Until every path is known, it is rebuilt on each call."""
    global _line_pattern
    if _line_pattern is not None:
        return _line_pattern
    if getattr(_building, "active", False):  # a line logged while the URLconf loads
        return CREDENTIALS
    _building.active = True
    try:
        prefixes, complete = capability_path_prefixes()
    finally:
        _building.active = False
    paths = [
        "(" + _SLASH.join(re.escape(part) for part in prefix.split("/")) + ")" + _SEGMENT
        for prefix in sorted(prefixes)
    ]
    pattern = re.compile("|".join(_CREDENTIAL_PATTERNS + paths))
    if complete:
        _line_pattern = pattern
    return pattern


def _replace(match: re.Match[str]) -> str:
    return "".join(kept for kept in match.groups() if kept) + REDACTED


def redact(text: str) -> str:
    # Longest first, so a secret containing another is replaced whole.
    for value in sorted(_sensitive.get(), key=len, reverse=True):
        text = text.replace(value, REDACTED)
    return _pattern().sub(_replace, text)


class RedactSecrets(logging.Filter):
    """Rewrites a record's message, its exception text and the fields the JSON line shows
    (a request's path) with secrets redacted."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact(record.getMessage())
        record.args = None
        attributes = record.__dict__
        for field in EXTRA_FIELDS:
            value = attributes.get(field)
            if isinstance(value, str):
                attributes[field] = redact(value)
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        record.exc_info = None  # exc_text carries it, redacted
        return True


class JsonFormatter(logging.Formatter):
    # Built once: `json.dumps(..., default=str)` builds an encoder for every line.
    _encoder = json.JSONEncoder(default=str)

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = request_id_var.get()
        if request_id:
            entry["request_id"] = request_id
        attributes = record.__dict__
        for field in EXTRA_FIELDS:
            if field in attributes:
                entry[field] = attributes[field]
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exception"] = record.exc_text
        return self._encoder.encode(entry)

"""Structured logs: one JSON object per line, carrying the request id, with secrets redacted.

Redaction works two ways. Values the code knows are secret (vault plaintexts it sealed or
unsealed, passwords it checked) are registered for the current request with
`mark_sensitive` and replaced wherever they appear; values that look like credentials by
their shape (session tokens, Stripe keys, Bearer headers, vault key entries) are replaced by
pattern. The filter sits on the handler, so it sees every record from every logger.
"""

import json
import logging
import re
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from accounts.session_tokens import SESSION_TOKEN_PREFIX

REDACTED = "[redacted]"
# Shorter values are too likely to be ordinary words to be replaced everywhere.
MIN_SENSITIVE_LENGTH = 6
MAX_SENSITIVE_VALUES = 1000

# The JSON lines show no caller's file and line, thread or task names, so the records skip
# finding them: a tenth of a log line's CPU instructions. These are the switches the logging
# HOWTO's "Optimization" section names; the process id stays (gunicorn's own lines show it).
logging._srcfile = None
logging.logThreads = False
logging.logMultiprocessing = False
logging.logAsyncioTasks = False  # type: ignore[attr-defined]  # (3.12+; typeshed lags)

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)
_sensitive: ContextVar[frozenset[str]] = ContextVar("sensitive_values", default=frozenset())

# One pattern: each line is scanned once.
CREDENTIALS = re.compile(
    "|".join(
        [
            re.escape(SESSION_TOKEN_PREFIX) + r"[A-Za-z0-9_-]+",  # our session tokens
            r"\b(?:sk|rk|pk)_(?:live|test)_[A-Za-z0-9]+",  # Stripe API keys
            r"\bwhsec_[A-Za-z0-9]+",  # Stripe webhook secrets
            r"(?i:(bearer\s+))\S+",  # the scheme is kept
            r"\b[\w-]{1,32}:[A-Za-z0-9+/]{43}=",  # a VAULT_KEYS entry (kid:base64 key)
        ]
    )
)

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


def redact(text: str) -> str:
    # Longest first, so a secret containing another is replaced whole.
    for value in sorted(_sensitive.get(), key=len, reverse=True):
        text = text.replace(value, REDACTED)
    return CREDENTIALS.sub(lambda m: (m.group(1) or "") + REDACTED, text)


class RedactSecrets(logging.Filter):
    """Rewrites a record's message (and its exception text) with secrets redacted."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact(record.getMessage())
        record.args = None
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

"""Session tokens as stored: only their SHA-256, for API tokens and page cookies alike
(accounts.session_store). Every credential Agora issues starts `agora_<kind>_`, which is what
the log redaction (core.log_format) looks for."""

import hashlib

SESSION_TOKEN_PREFIX = "agora_s_"  # noqa: S105 - a marker, not a secret


def hash_session_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()

"""What marks an API session token. Every credential Agora issues starts `agora_<kind>_`,
which is what the log redaction (core.log_format) looks for."""

SESSION_TOKEN_PREFIX = "agora_s_"  # noqa: S105 - a marker, not a secret

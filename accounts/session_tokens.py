"""What marks an API session token, in a module with no imports of its own, so that the log
redaction (marketplace.log_format), which accounts.services itself imports, can name it too."""

SESSION_TOKEN_PREFIX = "agora_s_"  # noqa: S105 - a marker, not a secret

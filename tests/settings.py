"""Settings for the test suite: production settings with keys generated for this run.

Nothing here is a fixed secret: SECRET_KEY and the vault key are made fresh per process, as
real deployments provide theirs through the environment.
"""

import os
import secrets

from tokens_vault.keyring import generate_key_entry

os.environ.setdefault("SECRET_KEY", secrets.token_urlsafe(50))
os.environ.setdefault("VAULT_KEYS", generate_key_entry("test1"))
os.environ.setdefault("SECURE_SSL_REDIRECT", "false")
os.environ.setdefault("ALLOWED_HOSTS", "testserver,localhost,127.0.0.1")
# High enough that no test trips it by accident; tests/marketplace/test_rate_limit.py sets its own.
os.environ.setdefault("API_RATE_LIMIT", "100000/min")
# Playwright's sync API (tests/browser) leaves an event loop running in the test thread for
# the rest of the session; the suite's ORM calls there are still plain synchronous code.
# Child processes never inherit this (tests/manage_process.py strips it).
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

from marketplace.settings import *  # noqa: F403

# Tests never run collectstatic: serve static files straight from the app directories.
STATIC_ROOT = None
WHITENOISE_USE_FINDERS = True
# ...and without collectstatic there is no manifest of hashed names to look them up in.
STORAGES = {
    **STORAGES,  # noqa: F405
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

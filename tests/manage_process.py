"""Run `manage.py` in a fresh process, as production starts it: only the environment given.

The suite's own settings (tests/settings.py) put generated keys into os.environ; a child
process must not inherit them, or a "refuses to start without a key" test could not fail.
"""

import os
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
SUITE_VARIABLES = {
    "DEBUG",
    "SECRET_KEY",
    "VAULT_KEYS",
    "SECURE_SSL_REDIRECT",
    "ALLOWED_HOSTS",
    "DATABASE_URL",
    "DJANGO_SETTINGS_MODULE",
    "DJANGO_ALLOW_ASYNC_UNSAFE",
}


def child_environment(env: dict[str, str]) -> dict[str, str]:
    """This process's environment without the suite's variables, plus `env` (which may name
    its own DJANGO_SETTINGS_MODULE): for any child that must start as production does."""
    child_env = {k: v for k, v in os.environ.items() if k not in SUITE_VARIABLES}
    child_env["DJANGO_SETTINGS_MODULE"] = "marketplace.settings"
    child_env.update(env)
    return child_env


def run_manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - our own manage.py with fixed arguments
        [sys.executable, "manage.py", *args],
        cwd=REPO_ROOT,
        env=child_environment(env),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

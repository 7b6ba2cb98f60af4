"""§1/§10: production settings pass Django's deploy checks and refuse to start unsafely."""

import secrets

import pytest

from tests.manage_process import run_manage
from tokens_vault.keyring import generate_key_entry

pytestmark = pytest.mark.usefixtures("sqlite_pass_only")


def _production_env() -> dict[str, str]:
    return {
        "DEBUG": "false",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "VAULT_KEYS": generate_key_entry("prod1"),
        "ALLOWED_HOSTS": "agora.example",
    }


def test_check_deploy_is_clean_under_production_settings() -> None:
    result = run_manage("check", "--deploy", "--fail-level", "WARNING", env=_production_env())
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_production_refuses_to_start_without_a_secret_key() -> None:
    env = _production_env()
    del env["SECRET_KEY"]
    result = run_manage("check", env=env)
    assert result.returncode != 0
    assert "SECRET_KEY is required" in result.stderr

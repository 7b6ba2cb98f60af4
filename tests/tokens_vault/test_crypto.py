"""SPEC §4: AES-256-GCM at rest, bound to its row, keys from `VAULT_KEYS` with rotation."""

import base64
import dataclasses
import os
import secrets
import subprocess

import pytest
from django.test import override_settings

from tests.manage_process import run_manage
from tokens_vault.crypto import NONCE_BYTES, VaultDecryptError, seal, unseal
from tokens_vault.keyring import KeyRing, KeyRingError, generate_key_entry, parse_keyring
from tokens_vault.models import Secret
from tokens_vault.services import secret_plaintext, secrets_create

PLAINTEXT = "vault-test-" + secrets.token_hex(12)  # generated: nothing key-like is committed


def _material(entry: str) -> str:
    """The base64 key of a `kid:base64key` entry."""
    return entry.partition(":")[2]


def _fresh(secret: Secret) -> Secret:
    return Secret.objects.get(pk=secret.pk)


def test_seal_then_unseal_returns_the_plaintext() -> None:
    keyring = parse_keyring(generate_key_entry("k1"))
    sealed = seal(keyring, PLAINTEXT, binding="secret:1")
    assert sealed.key_id == "k1"
    assert PLAINTEXT.encode() not in sealed.ciphertext
    assert unseal(keyring, sealed, binding="secret:1") == PLAINTEXT


def test_sealing_twice_uses_a_fresh_96_bit_nonce() -> None:
    keyring = parse_keyring(generate_key_entry("k1"))
    first = seal(keyring, PLAINTEXT, binding="secret:1")
    second = seal(keyring, PLAINTEXT, binding="secret:1")
    assert len(first.nonce) == len(second.nonce) == NONCE_BYTES == 12
    assert first.nonce != second.nonce
    assert first.ciphertext != second.ciphertext


@pytest.mark.django_db
def test_secret_row_round_trips_through_the_database() -> None:
    [secret] = secrets_create(plaintexts=[PLAINTEXT])
    stored = _fresh(secret)
    assert bytes(stored.ciphertext) != PLAINTEXT.encode()
    assert secret_plaintext(stored) == PLAINTEXT


@pytest.mark.django_db
def test_ciphertext_copied_onto_another_row_fails_to_decrypt() -> None:
    original, other = secrets_create(plaintexts=[PLAINTEXT, "another-secret-value"])
    other.key_id, other.nonce, other.ciphertext = (
        original.key_id,
        original.nonce,
        original.ciphertext,
    )
    other.save()

    assert secret_plaintext(_fresh(original)) == PLAINTEXT
    with pytest.raises(VaultDecryptError):
        secret_plaintext(_fresh(other))


@pytest.mark.django_db
def test_flipped_ciphertext_byte_fails_to_decrypt() -> None:
    [secret] = secrets_create(plaintexts=[PLAINTEXT])
    tampered = bytearray(secret.ciphertext)
    tampered[0] ^= 0x01
    Secret.objects.filter(pk=secret.pk).update(ciphertext=bytes(tampered))
    with pytest.raises(VaultDecryptError):
        secret_plaintext(_fresh(secret))


def test_relabelled_key_id_fails_even_when_both_ids_hold_the_same_key() -> None:
    key = os.urandom(32)
    keyring = KeyRing(active_id="a", keys={"a": key, "b": key})
    sealed = seal(keyring, PLAINTEXT, binding="secret:1")
    with pytest.raises(VaultDecryptError):
        unseal(keyring, dataclasses.replace(sealed, key_id="b"), binding="secret:1")
    with pytest.raises(VaultDecryptError):  # an id the ring does not know
        unseal(keyring, dataclasses.replace(sealed, key_id="gone"), binding="secret:1")


@pytest.mark.django_db
def test_rotation_keeps_old_ciphertexts_readable_while_the_old_key_is_listed() -> None:
    old, new = generate_key_entry("old"), generate_key_entry("new")
    with override_settings(VAULT_KEYRING=parse_keyring(old)):
        [before] = secrets_create(plaintexts=[PLAINTEXT])

    with override_settings(VAULT_KEYRING=parse_keyring(f"{new},{old}")):
        [after] = secrets_create(plaintexts=["sealed-after-rotation"])
        assert (_fresh(before).key_id, _fresh(after).key_id) == ("old", "new")
        assert secret_plaintext(_fresh(before)) == PLAINTEXT
        assert secret_plaintext(_fresh(after)) == "sealed-after-rotation"

    with override_settings(VAULT_KEYRING=parse_keyring(new)), pytest.raises(VaultDecryptError):
        secret_plaintext(_fresh(before))


SHORT_KEY = base64.b64encode(os.urandom(16)).decode()
GOOD = generate_key_entry("good")
MALFORMED = {
    "no colon": _material(GOOD),
    "bad base64": "k1:" + _material(GOOD)[:-2] + "!!",
    "16-byte key": f"k1:{SHORT_KEY}",
    "duplicate id": f"{GOOD},good:{_material(generate_key_entry('x'))}",
    "empty": " , ",
}


@pytest.mark.parametrize("spec", MALFORMED.values(), ids=MALFORMED.keys())
def test_parse_keyring_rejects_malformed_keys_without_echoing_them(spec: str) -> None:
    with pytest.raises(KeyRingError) as excinfo:
        parse_keyring(spec)
    message = str(excinfo.value)
    assert "VAULT_KEYS" in message
    for entry in spec.split(","):
        material = _material(entry) or entry.strip()
        assert not material or material[:16] not in message


def test_keyring_repr_hides_key_material() -> None:
    entry = generate_key_entry("k1")
    keyring = parse_keyring(entry)
    key = keyring.active_key
    for text in (repr(keyring), str(keyring), f"{keyring!r}"):
        assert "k1" in text
        assert _material(entry) not in text
        assert repr(key) not in text
        assert key.hex() not in text


def _manage_check(vault_keys: str | None) -> subprocess.CompletedProcess[str]:
    env = {"DEBUG": "false", "SECRET_KEY": "x" * 50}
    if vault_keys is not None:
        env["VAULT_KEYS"] = vault_keys
    return run_manage("check", env=env)


@pytest.mark.usefixtures("sqlite_pass_only")
@pytest.mark.parametrize(
    "vault_keys",
    [None, "", f"k1:{SHORT_KEY}", f"{GOOD},{_material(GOOD)}"],
    ids=["unset", "empty", "16-byte key", "second entry without id"],
)
def test_app_refuses_to_start_without_a_valid_vault_key(vault_keys: str | None) -> None:
    result = _manage_check(vault_keys)
    assert result.returncode != 0
    error = result.stderr.strip().splitlines()[-1]  # the exception, not a source line
    assert error.startswith("django.core.exceptions.ImproperlyConfigured: VAULT_KEYS"), error
    for material in (SHORT_KEY, _material(GOOD)):
        assert material not in result.stderr + result.stdout


@pytest.mark.usefixtures("sqlite_pass_only")
def test_app_starts_with_a_valid_vault_key() -> None:
    """The control for the test above: the same command succeeds once the key is valid."""
    result = _manage_check(GOOD)
    assert result.returncode == 0, result.stderr
    assert _material(GOOD) not in result.stderr + result.stdout

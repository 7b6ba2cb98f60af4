"""AES-256-GCM sealing of seller secrets.

Every encryption takes a fresh random 96-bit nonce; the associated data names the key id and
the row the ciphertext belongs to, so a ciphertext copied onto another row, or relabelled with
another key id, fails its authentication tag instead of decrypting.
"""

import os
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from tokens_vault.keyring import KeyRing

NONCE_BYTES = 12
_AAD_PREFIX = b"agora.vault.v1"


class VaultDecryptError(Exception):
    """The ciphertext is not authentic for this row and key (or the key is gone)."""


@dataclass(frozen=True)
class Sealed:
    key_id: str
    nonce: bytes
    ciphertext: bytes


def _associated_data(key_id: str, binding: str) -> bytes:
    return b"|".join((_AAD_PREFIX, key_id.encode(), binding.encode()))


def seal(keyring: KeyRing, plaintext: str, *, binding: str) -> Sealed:
    """Encrypt under the active key; `binding` identifies the row that will hold the result."""
    nonce = os.urandom(NONCE_BYTES)
    key_id = keyring.active_id
    ciphertext = AESGCM(keyring.active_key).encrypt(
        nonce, plaintext.encode(), _associated_data(key_id, binding)
    )
    return Sealed(key_id=key_id, nonce=nonce, ciphertext=ciphertext)


def unseal(keyring: KeyRing, sealed: Sealed, *, binding: str) -> str:
    key = keyring.keys.get(sealed.key_id)
    if key is None:
        raise VaultDecryptError(f"vault key {sealed.key_id!r} is not configured")
    try:
        plaintext = AESGCM(key).decrypt(
            sealed.nonce, sealed.ciphertext, _associated_data(sealed.key_id, binding)
        )
    except InvalidTag:
        raise VaultDecryptError("ciphertext failed authentication") from None
    return plaintext.decode()


def mask(plaintext: str) -> str:
    """What operators see: only the last 4 characters, and nothing of a very short secret."""
    if len(plaintext) <= 8:
        return "••••"
    return "••••" + plaintext[-4:]

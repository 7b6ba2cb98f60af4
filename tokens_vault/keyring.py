"""Parsing of the `VAULT_KEYS` setting into a key ring.

Kept free of Django imports so settings can validate the keys at start-up: the app must refuse
to start with a missing or malformed key rather than fail on the first purchase.
"""

import base64
import binascii
import os
import re
from dataclasses import dataclass

KEY_BYTES = 32  # AES-256
MAX_KEY_ID_LENGTH = 32
_KEY_ID = re.compile(r"[A-Za-z0-9_-]+")


class KeyRingError(ValueError):
    """Raised for a malformed `VAULT_KEYS` value; the message never contains key material."""


@dataclass(frozen=True)
class KeyRing:
    """Vault keys by id; the first key of `VAULT_KEYS` encrypts, every key decrypts."""

    active_id: str
    keys: dict[str, bytes]

    def __repr__(self) -> str:  # never show key material, not even in a traceback
        return f"KeyRing(active_id={self.active_id!r}, key_ids={list(self.keys)!r})"

    @property
    def active_key(self) -> bytes:
        return self.keys[self.active_id]


def parse_keyring(spec: str) -> KeyRing:
    """Parse `kid:base64key,kid:base64key,...` (the first entry is the active key)."""
    keys: dict[str, bytes] = {}
    for position, entry in enumerate(part.strip() for part in spec.split(",")):
        if not entry:
            continue
        key_id, sep, encoded = entry.partition(":")
        key_id = key_id.strip()
        if not sep or not key_id or not encoded.strip():
            raise KeyRingError(f"VAULT_KEYS entry {position + 1} must look like 'kid:base64key'")
        if (
            len(key_id) > MAX_KEY_ID_LENGTH
            or not key_id.replace("-", "").replace("_", "").isalnum()
        ):
            raise KeyRingError(
                f"VAULT_KEYS entry {position + 1}: key id must be at most {MAX_KEY_ID_LENGTH} "
                "letters, digits, '-' or '_'"
            )
        if key_id in keys:
            raise KeyRingError(f"VAULT_KEYS: key id {key_id!r} appears twice")
        try:
            key = base64.b64decode(encoded.strip(), validate=True)
        except (binascii.Error, ValueError):
            raise KeyRingError(f"VAULT_KEYS: key {key_id!r} is not valid base64") from None
        if len(key) != KEY_BYTES:
            raise KeyRingError(f"VAULT_KEYS: key {key_id!r} must decode to {KEY_BYTES} bytes")
        keys[key_id] = key
    if not keys:
        raise KeyRingError("VAULT_KEYS holds no key")
    return KeyRing(active_id=next(iter(keys)), keys=keys)


def generate_key_entry(key_id: str) -> str:
    """A fresh `kid:base64key` entry, for the dev key file and for tests."""
    return f"{key_id}:{base64.b64encode(os.urandom(KEY_BYTES)).decode()}"

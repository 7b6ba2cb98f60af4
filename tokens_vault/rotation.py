"""Re-encryption of vault secrets under the active key (`manage.py rotate_vault_key`).

Rotation runs while the app keeps serving, so it takes no row locks: every secret is
rewritten by a compare-and-swap UPDATE that applies only while the row still holds the
ciphertext that was decrypted. A seller's `secret_replace` that lands in between therefore
wins, and a stale re-encryption of the old value is dropped instead of overwriting it (two
rotation runs at once are harmless for the same reason). Each batch's writes are one short
transaction; a run needs no saved state, because the secrets still to do are exactly those
whose key id is not the active one, so an interrupted run is simply started again.

Plaintext exists only between `unseal` and `seal` of one secret; results carry counts,
key ids and secret ids, never content.
"""

import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.db.models import QuerySet

from tokens_vault.crypto import Sealed, VaultDecryptError, seal, unseal
from tokens_vault.keyring import KeyRing
from tokens_vault.models import Secret


@dataclass(frozen=True)
class RotationFailure:
    """A secret that could not be decrypted, so it keeps its old key; no content, only ids."""

    secret_id: uuid.UUID
    key_id: str
    reason: str


@dataclass(frozen=True)
class RotationResult:
    """One batch. `last_id` is where the next batch starts (None: nothing was left)."""

    key_id: str
    rotated: int
    changed_meanwhile: int
    failures: tuple[RotationFailure, ...]
    last_id: uuid.UUID | None

    @property
    def examined(self) -> int:
        return self.rotated + self.changed_meanwhile + len(self.failures)


@dataclass(frozen=True)
class RotationReport:
    """A whole run: its batches added up, and what still waits under an older key."""

    key_id: str
    batches: int
    rotated: int
    changed_meanwhile: int
    failures: tuple[RotationFailure, ...]
    remaining: int


def _pending(keyring: KeyRing) -> QuerySet[Secret]:
    # The key_id index (secret_key_id_idx) serves both this filter and the counts.
    return Secret.objects.exclude(key_id=keyring.active_id)


def secrets_pending_rotation() -> dict[str, int]:
    """How many secrets each older key still holds (empty once rotation is complete)."""
    counts = Counter(_pending(settings.VAULT_KEYRING).values_list("key_id", flat=True))
    return dict(sorted(counts.items()))


def _failure(keyring: KeyRing, secret: Secret) -> RotationFailure:
    reason = (
        "its key is not in VAULT_KEYS"
        if secret.key_id not in keyring.keys
        else "it failed authentication (damaged, or copied from another row)"
    )
    return RotationFailure(secret_id=secret.pk, key_id=secret.key_id, reason=reason)


def _resealed(keyring: KeyRing, secret: Secret) -> Sealed:
    """The secret sealed afresh under the active key, bound to the same row.

    A function of its own so the plaintext is a local only of a frame that has returned
    before any database write: an error report that captures frame locals cannot hold it.
    """
    plaintext = unseal(keyring, secret.sealed, binding=secret.binding)
    return seal(keyring, plaintext, binding=secret.binding)


def _swap(secret: Secret, resealed: Sealed) -> bool:
    """Store `resealed` only if the row still holds what was decrypted.

    False means the row changed since it was read: a seller replaced the secret (sealing it
    under the active key) or another rotation run got there first. Either way the row's
    current value is newer than ours and stands.
    """
    old = secret.sealed
    # `updated_at` is left alone: the secret's value did not change, only its envelope.
    changed = Secret.objects.filter(
        pk=secret.pk, key_id=old.key_id, nonce=old.nonce, ciphertext=old.ciphertext
    ).update(key_id=resealed.key_id, nonce=resealed.nonce, ciphertext=resealed.ciphertext)
    return changed == 1


def secrets_rotate_batch(*, batch_size: int, after: uuid.UUID | None = None) -> RotationResult:
    """Re-seal under the active key up to `batch_size` secrets sealed under another key,
    in primary-key order after `after`.

    The cursor is what lets a run end: a secret that cannot be decrypted keeps its old key
    id, so restarting from the first id would read it again forever. A new run starts over
    (`after=None`) and so tries such secrets again, e.g. once their key is back in the ring.
    The binding stays the row's own, so a ciphertext copied onto another row still fails
    (and is reported) rather than being re-sealed as if it belonged there.
    """
    keyring: KeyRing = settings.VAULT_KEYRING
    pending = _pending(keyring).order_by("pk")
    if after is not None:
        pending = pending.filter(pk__gt=after)
    batch = list(pending[:batch_size])

    resealed: list[tuple[Secret, Sealed]] = []
    failures: list[RotationFailure] = []
    for secret in batch:
        try:
            resealed.append((secret, _resealed(keyring, secret)))
        except VaultDecryptError:
            failures.append(_failure(keyring, secret))

    # Only the writes share a transaction, so it lasts as long as the UPDATEs and no longer.
    with transaction.atomic():
        swapped = [_swap(secret, sealed) for secret, sealed in resealed]
    return RotationResult(
        key_id=keyring.active_id,
        rotated=sum(swapped),
        changed_meanwhile=swapped.count(False),
        failures=tuple(failures),
        last_id=batch[-1].pk if batch else None,
    )


def secrets_rotate(
    *,
    batch_size: int,
    max_batches: int | None = None,
    on_batch: Callable[[RotationResult], None] | None = None,
) -> RotationReport:
    """Rotate batch after batch until none is left or `max_batches` have run.

    `on_batch` sees each batch's result (the command prints progress with it).
    """
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    results: list[RotationResult] = []
    after: uuid.UUID | None = None
    while max_batches is None or len(results) < max_batches:
        result = secrets_rotate_batch(batch_size=batch_size, after=after)
        if result.last_id is None:
            break
        results.append(result)
        if on_batch is not None:
            on_batch(result)
        if result.examined < batch_size:  # a short batch was the last one
            break
        after = result.last_id
    return RotationReport(
        key_id=settings.VAULT_KEYRING.active_id,
        batches=len(results),
        rotated=sum(r.rotated for r in results),
        changed_meanwhile=sum(r.changed_meanwhile for r in results),
        failures=tuple(f for r in results for f in r.failures),
        remaining=sum(secrets_pending_rotation().values()),
    )

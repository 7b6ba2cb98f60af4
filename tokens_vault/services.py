"""Writes of the vault: sealing secrets, issuing, revealing and revoking tokens.

The key ring is read from settings at call time so a rotated `VAULT_KEYS` takes effect
without code changes; nothing here logs or returns plaintext except `tokens_reveal`.
"""

import logging
import uuid
from collections.abc import Iterable, Sequence

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.models import User
from audit.models import AuditAction
from audit.services import RequestOrigin, audit_record, audit_record_each
from core.errors import Forbidden, NotFound
from core.log_format import mark_sensitive
from tokens_vault.crypto import VaultDecryptError, seal, unseal
from tokens_vault.models import Secret, Token

logger = logging.getLogger(__name__)

MASK_MIN_LENGTH = 12


def _sealed_secret(plaintext: str) -> Secret:
    mark_sensitive(plaintext)
    secret = Secret()
    secret.store(seal(settings.VAULT_KEYRING, plaintext, binding=secret.binding))
    return secret


def secrets_create(*, plaintexts: Sequence[str]) -> list[Secret]:
    return Secret.objects.bulk_create([_sealed_secret(text) for text in plaintexts])


def secret_replace(*, secret: Secret, plaintext: str) -> None:
    """Re-seal in place, so every token pointing at this secret delivers the new value."""
    mark_sensitive(plaintext)
    secret.store(seal(settings.VAULT_KEYRING, plaintext, binding=secret.binding))
    secret.save(update_fields=["key_id", "nonce", "ciphertext", "updated_at"])


def secret_plaintext(secret: Secret) -> str:
    """Decrypt for an internal check (never for display: reveals go through tokens_reveal)."""
    plaintext = unseal(settings.VAULT_KEYRING, secret.sealed, binding=secret.binding)
    mark_sensitive(plaintext)
    return plaintext


def secret_masked(secret: Secret) -> str:
    """The secret as operators see it: its last 4 characters, or nothing of one too short
    for 4 characters to be a small part of it."""
    plaintext = secret_plaintext(secret)
    return "••••" + (plaintext[-4:] if len(plaintext) >= MASK_MIN_LENGTH else "")


def tokens_issue(
    *, owner: User, order_id: int, secret_ids: Sequence[uuid.UUID], exclusive: bool
) -> list[Token]:
    """One token per secret id given; `exclusive` marks pool deliveries (unique per secret)."""
    return Token.objects.bulk_create(
        [
            Token(owner=owner, order_id=order_id, secret_id=secret_id, exclusive=exclusive)
            for secret_id in secret_ids
        ]
    )


def tokens_reveal(
    *, tokens: Iterable[Token], actor: User, origin: RequestOrigin
) -> dict[int, str | None]:
    """Plaintext of the actor's live tokens, each reveal written to the audit log.

    Revoked tokens and tokens of other users map to None. A secret that fails authentication
    also maps to None and is logged by id, so one damaged row cannot hide a buyer's others.
    """
    revealed: dict[int, str | None] = {}
    shown = []
    for token in tokens:
        revealed[token.pk] = None
        if token.owner_id != actor.pk or not token.is_live:
            continue
        try:
            revealed[token.pk] = secret_plaintext(token.secret)
        except VaultDecryptError:
            logger.error("token %s: secret %s failed to decrypt", token.pk, token.secret_id)
            continue
        shown.append(token)
    audit_record_each(actor=actor, action=AuditAction.TOKEN_REVEAL, targets=shown, origin=origin)
    return revealed


@transaction.atomic
def token_revoke(*, token_id: int, actor: User, origin: RequestOrigin | None = None) -> Token:
    """Sellers revoke tokens of their own listings, operators any; revoking twice is a no-op
    (and writes no second audit entry)."""
    token = (
        Token.objects.select_for_update(of=("self",))
        .select_related("order__listing")
        .filter(pk=token_id)
        .first()
    )
    may_revoke = token is not None and (actor.is_staff or token.order.listing.seller_id == actor.pk)
    if token is None or not (may_revoke or token.owner_id == actor.pk):
        raise NotFound("No such token.")
    if not may_revoke:
        raise Forbidden("Only the seller of the listing or an operator can revoke a token.")
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.revoked_by = actor
        token.save(update_fields=["revoked_at", "revoked_by"])
        audit_record(
            actor=actor,
            action=AuditAction.TOKEN_REVOKE,
            target=token,
            origin=origin,
            summary=f"Token {token.pk} of order {token.order_id} revoked",
        )
    return token


def tokens_revoke_for_order(*, order_id: int, actor: User | None) -> int:
    """Revoke every live token of an order (a refund); `actor` None is the system."""
    return Token.objects.filter(order_id=order_id, revoked_at__isnull=True).update(
        revoked_at=timezone.now(), revoked_by=actor
    )

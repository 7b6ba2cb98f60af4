"""Encrypted secrets and the tokens that deliver them to buyers (reveals: audit.AuditEntry)."""

import uuid

from django.conf import settings
from django.db import models
from django.db.models.functions import Length
from django.db.models.lookups import Exact, GreaterThanOrEqual

from tokens_vault.crypto import NONCE_BYTES, Sealed

GCM_TAG_BYTES = 16


class Secret(models.Model):
    """One seller secret, sealed with AES-256-GCM and bound to this row's id.

    The primary key is a UUID chosen before encryption, so the associated data can name the
    row in the same INSERT that stores the ciphertext.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    key_id = models.CharField(max_length=32)
    nonce = models.BinaryField()
    ciphertext = models.BinaryField()
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Exact(Length("nonce"), NONCE_BYTES), name="secret_nonce_96_bits"
            ),
            models.CheckConstraint(
                condition=GreaterThanOrEqual(Length("ciphertext"), GCM_TAG_BYTES),
                name="secret_ciphertext_has_tag",
            ),
        ]
        indexes = [models.Index(fields=["key_id"], name="secret_key_id_idx")]

    def __str__(self) -> str:
        return f"Secret {self.id}"

    @property
    def binding(self) -> str:
        """The associated data that ties a ciphertext to this row."""
        return f"secret:{self.id}"

    @property
    def sealed(self) -> Sealed:
        return Sealed(
            key_id=self.key_id, nonce=bytes(self.nonce), ciphertext=bytes(self.ciphertext)
        )

    def store(self, sealed: Sealed) -> None:
        self.key_id = sealed.key_id
        self.nonce = sealed.nonce
        self.ciphertext = sealed.ciphertext


class Token(models.Model):
    """One unit purchased: the buyer's right to read one secret while the token is live."""

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="tokens"
    )
    order = models.ForeignKey("orders.Order", on_delete=models.PROTECT, related_name="tokens")
    secret = models.ForeignKey(Secret, on_delete=models.PROTECT, related_name="tokens")
    # True for pool deliveries: the secret belongs to this token alone (see constraint).
    exclusive = models.BooleanField()
    created_at = models.DateTimeField(auto_now_add=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )

    class Meta:
        permissions = [("revoke_token", "Can revoke tokens")]
        constraints = [
            # The database's own guarantee that no pool secret is ever delivered twice.
            models.UniqueConstraint(
                fields=["secret"],
                condition=models.Q(exclusive=True),
                name="token_exclusive_secret_delivered_once",
            ),
        ]
        indexes = [models.Index(fields=["owner", "-id"], name="token_owner_newest_idx")]

    def __str__(self) -> str:
        return f"Token {self.pk}"

    @property
    def is_live(self) -> bool:
        return self.revoked_at is None

"""The audit log: who did what to which row, when and from where. Append-only."""

from django.conf import settings
from django.db import models


class AuditAction(models.TextChoices):
    TOKEN_REVEAL = "token.reveal", "Token revealed"
    TOKEN_REVOKE = "token.revoke", "Token revoked"
    ORDER_REFUND = "order.refund", "Order refunded"
    ORDER_PAYMENT_MISMATCH = "order.payment_mismatch", "Stripe event did not match its order"
    LISTING_APPROVE = "listing.approve", "Listing approved"
    LISTING_SUSPEND = "listing.suspend", "Listing suspended"
    LISTING_UNSUSPEND = "listing.unsuspend", "Listing unsuspended"
    USER_DEACTIVATE = "user.deactivate", "User deactivated"
    USER_REACTIVATE = "user.reactivate", "User reactivated"
    USER_MODERATOR_GRANT = "user.moderator_grant", "Made moderator"
    USER_MODERATOR_REMOVE = "user.moderator_remove", "Moderator role removed"
    ADMIN_ADD = "admin.add", "Added in the admin"
    ADMIN_CHANGE = "admin.change", "Changed in the admin"
    ADMIN_DELETE = "admin.delete", "Deleted in the admin"
    JOB_RESUBMIT = "job.resubmit", "Job resubmitted"


class AuditEntry(models.Model):
    """One audited act. Rows are never changed or deleted: database triggers refuse it
    (migration 0001), so not even a bug in this code can rewrite history.

    The target is named by type and id rather than a foreign key, so an entry outlives any
    row it speaks of and one table serves every kind of target.
    """

    Action = AuditAction

    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text="Empty when the system acted (an automatic refund).",
    )
    action = models.CharField(max_length=40, choices=AuditAction.choices)
    target_type = models.CharField(max_length=40)
    target_id = models.CharField(max_length=64)
    summary = models.CharField(max_length=300, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name_plural = "audit entries"
        constraints = [
            models.CheckConstraint(
                condition=models.Q(action__in=AuditAction.values), name="auditentry_action_valid"
            ),
        ]
        indexes = [
            models.Index(fields=["-created_at"], name="auditentry_newest_idx"),
            models.Index(fields=["target_type", "target_id"], name="auditentry_target_idx"),
            models.Index(fields=["actor", "-created_at"], name="auditentry_actor_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.action} {self.target_type} {self.target_id}"

"""Reads of accounts."""

from django.db.models import QuerySet
from django.utils import timezone

from accounts.models import ApiSession, User


def api_sessions_live(*, user: User) -> QuerySet[ApiSession]:
    """The user's sessions that still authenticate, newest first."""
    return ApiSession.objects.filter(
        user=user, revoked_at__isnull=True, expires_at__gt=timezone.now()
    ).order_by("-created_at", "-id")

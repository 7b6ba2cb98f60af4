"""Operators' acts on accounts: deactivation, reactivation, the moderator role (SPEC §9).

Each act locks the user row, changes it, and writes its audit entry in one transaction. An act
that changes nothing (deactivating an inactive user) returns False and writes no entry.
"""

from typing import Any

from django.apps import apps
from django.contrib.auth.management import create_permissions
from django.contrib.auth.models import Group, Permission
from django.db import transaction
from django.db.models import Q

from accounts.models import User
from accounts.services import api_sessions_revoke_all
from audit.models import AuditAction
from audit.services import RequestOrigin, audit_record
from core.errors import DomainError, Forbidden, NotFound

MODERATOR_GROUP = "moderator"
# Exactly what the moderation screens need: no add, change or delete anywhere (so no user
# deletion), and no permission shows a secret (the admin masks them for everyone).
MODERATOR_PERMISSIONS = [
    ("accounts", "view_user"),
    ("accounts", "deactivate_user"),
    ("accounts", "view_apisession"),
    ("listings", "view_listing"),
    ("listings", "moderate_listing"),
    ("orders", "view_order"),
    ("orders", "refund_order"),
    ("orders", "view_stripeevent"),
    ("tokens_vault", "view_token"),
    ("tokens_vault", "revoke_token"),
    ("audit", "view_auditentry"),
]


def moderator_group_sync(*, using: str = "default", **_: Any) -> Group:
    """Create the moderator group, or set its permissions back to MODERATOR_PERMISSIONS
    (connected to post_migrate; the other apps' permissions are created first if needed)."""
    for label in {app_label for app_label, _ in MODERATOR_PERMISSIONS}:
        create_permissions(apps.get_app_config(label), verbosity=0, using=using)
    wanted = Q()
    for app_label, codename in MODERATOR_PERMISSIONS:
        wanted |= Q(content_type__app_label=app_label, codename=codename)
    group, _created = Group.objects.using(using).get_or_create(name=MODERATOR_GROUP)
    group.permissions.set(Permission.objects.using(using).filter(wanted))
    return group


class UserStateConflict(DomainError):
    code = "user_state_conflict"


def _lock_user(user_id: int) -> User:
    user = User.objects.select_for_update().filter(pk=user_id).first()
    if user is None:
        raise NotFound("No such user.")
    return user


def _check_may_moderate(*, actor: User, user: User) -> None:
    """Operators moderate members; only a superuser touches another operator, nobody
    themselves (an operator locking themselves out needs another operator anyway)."""
    if not actor.is_staff:
        raise Forbidden("Only operators can do this.")
    if user.pk == actor.pk:
        raise UserStateConflict("You cannot do this to your own account.")
    if (user.is_staff or user.is_superuser) and not actor.is_superuser:
        raise Forbidden("Only a superuser can do this to an operator's account.")


@transaction.atomic
def user_set_active(
    *, user_id: int, active: bool, actor: User, origin: RequestOrigin | None
) -> bool:
    """Deactivate, ending every session at once: API tokens and page logins (their rows are
    revoked); admin cookie sessions end because Django refuses inactive users. Or
    reactivate: the user may log in again, their old sessions stay ended."""
    user = _lock_user(user_id)
    _check_may_moderate(actor=actor, user=user)
    if user.is_active == active:
        return False
    user.is_active = active
    user.save(update_fields=["is_active"])
    if active:
        action, summary = AuditAction.USER_REACTIVATE, f"Reactivated user {user.pk}"
    else:
        ended = api_sessions_revoke_all(user=user)
        action, summary = (
            AuditAction.USER_DEACTIVATE,
            f"Deactivated user {user.pk}; {ended} sessions ended",
        )
    audit_record(actor=actor, action=action, target=user, origin=origin, summary=summary)
    return True


@transaction.atomic
def user_set_moderator(
    *, user_id: int, moderator: bool, actor: User, origin: RequestOrigin | None
) -> bool:
    """Make a member a moderator (staff in the moderator group) or take the role back.
    Superusers only; a superuser's own rights are not changed here."""
    if not actor.is_superuser:
        raise Forbidden("Only a superuser can change who moderates.")
    user = _lock_user(user_id)
    if user.is_superuser:
        raise UserStateConflict("A superuser already has every permission.")
    group = Group.objects.get(name=MODERATOR_GROUP)
    in_group = user.groups.filter(pk=group.pk).exists()
    if moderator == (user.is_staff and in_group):
        return False
    user.is_staff = moderator
    user.save(update_fields=["is_staff"])
    if moderator:
        user.groups.add(group)
    else:
        user.groups.remove(group)
    audit_record(
        actor=actor,
        action=AuditAction.USER_MODERATOR_GRANT if moderator else AuditAction.USER_MODERATOR_REMOVE,
        target=user,
        origin=origin,
        summary=f"User {user.pk} {'made a moderator' if moderator else 'no longer moderates'}",
    )
    return True

"""What every operator screen shares: read-only by default, actions that call a service per
row and report what happened, and admin form edits written to the audit log.

Operators change things only through actions backed by services (suspend, refund, revoke,
deactivate), which check the rules and write the audit entries; the admin's own add, change
and delete forms are off, so no row can be edited around a service.
"""

from collections.abc import Callable, Iterable
from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db import models
from django.http import HttpRequest

from audit.models import AuditAction
from audit.services import audit_record
from core.errors import DomainError
from core.request_origin import request_origin

MAX_PROBLEMS_LISTED = 5


class ViewOnly:
    """No add, change or delete through the admin's forms."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class OperatorAdmin(ViewOnly, admin.ModelAdmin):
    """A view-only model admin; subclasses add actions."""


class OperatorInline(ViewOnly, admin.TabularInline):
    """A view-only inline."""

    extra = 0
    can_delete = False


def apply_to_each(
    request: HttpRequest,
    queryset: models.QuerySet[Any],
    act: Callable[[Any], bool],
    *,
    done: str,
) -> None:
    """Run `act` on each selected row, each in its own service transaction, and tell the
    operator how many changed, how many were already so, and why any were refused.

    `act` returns False when the row already was as asked (nothing written, nothing audited)
    and raises a DomainError when a rule refuses it; the other rows still go through.
    """
    changed, unchanged, problems = 0, 0, []
    for row in queryset.order_by("pk"):
        try:
            if act(row):
                changed += 1
            else:
                unchanged += 1
        except DomainError as exc:
            problems.append(f"{row}: {exc.message}")
    meta = queryset.model._meta

    def rows(count: int) -> str:
        return f"{count} {meta.verbose_name if count == 1 else meta.verbose_name_plural}"

    if changed:
        messages.success(request, f"{done.capitalize()}: {rows(changed)}.")
    if unchanged:
        messages.info(request, f"Already {done}: {rows(unchanged)}; nothing changed.")
    if problems:
        listed = " ".join(problems[:MAX_PROBLEMS_LISTED])
        more = len(problems) - MAX_PROBLEMS_LISTED
        messages.error(
            request,
            f"Not {done}: {rows(len(problems))}. {listed}"
            + (f" And {more} more." if more > 0 else ""),
        )


class AuditedFormsMixin:
    """For the few admin screens with editable forms (groups): each add, change and delete
    goes to the audit log as well as Django's own admin history."""

    def log_addition(self, request: HttpRequest, obj: models.Model, message: Any) -> Any:
        audit_admin_acts(request, AuditAction.ADMIN_ADD, [obj])
        return super().log_addition(request, obj, message)  # type: ignore[misc]

    def log_change(self, request: HttpRequest, obj: models.Model, message: Any) -> Any:
        audit_admin_acts(request, AuditAction.ADMIN_CHANGE, [obj])
        return super().log_change(request, obj, message)  # type: ignore[misc]

    def log_deletions(self, request: HttpRequest, queryset: Iterable[models.Model]) -> Any:
        audit_admin_acts(request, AuditAction.ADMIN_DELETE, list(queryset))
        return super().log_deletions(request, queryset)  # type: ignore[misc]


def audit_admin_acts(request: HttpRequest, action: AuditAction, objs: list[models.Model]) -> None:
    """One audit entry per object an operator acted on in the admin."""
    actor = request.user
    if not isinstance(actor, models.Model):  # the admin lets only signed-in staff this far
        raise PermissionDenied
    for obj in objs:
        audit_record(
            actor=actor,
            action=action,
            target=obj,
            origin=request_origin(request),
            summary=f"{obj._meta.verbose_name} '{obj}'",
        )

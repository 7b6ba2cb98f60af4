"""Writing the audit log. Callers write entries inside the transaction of the act they
record, so an act and its entry are committed together or not at all."""

from collections.abc import Iterable

from django.db import models

from audit.models import AuditAction, AuditEntry
from core.request_origin import RequestOrigin

SYSTEM_ORIGIN = RequestOrigin(ip=None, user_agent="")


def _entry(
    *,
    actor: models.Model | None,
    action: AuditAction,
    target: models.Model,
    origin: RequestOrigin,
    summary: str,
) -> AuditEntry:
    target_type, target_id = _target(target)
    return AuditEntry(
        actor_id=actor.pk if actor is not None else None,
        action=action,
        target_type=target_type,
        target_id=target_id,
        summary=summary[:300],
        ip=origin.ip,
        user_agent=_stored_user_agent(origin),
    )


def _target(target: models.Model) -> tuple[str, str]:
    return target._meta.model_name or "", str(target.pk)


def _stored_user_agent(origin: RequestOrigin) -> str:
    """As much of the user agent as the column holds (clients send any length)."""
    return origin.user_agent[:200]


def audit_record(
    *,
    actor: models.Model | None,
    action: AuditAction,
    target: models.Model,
    origin: RequestOrigin | None,
    summary: str = "",
) -> AuditEntry:
    """Record one act; `actor` None is the system, `origin` None a request-less caller."""
    entry = _entry(
        actor=actor, action=action, target=target, origin=origin or SYSTEM_ORIGIN, summary=summary
    )
    entry.save(force_insert=True)
    return entry


def audit_record_each(
    *,
    actor: models.Model | None,
    action: AuditAction,
    targets: Iterable[models.Model],
    origin: RequestOrigin | None,
) -> None:
    """One entry per target in a single INSERT (a token list reveals a page of tokens)."""
    origin = origin or SYSTEM_ORIGIN
    AuditEntry.objects.bulk_create(
        _entry(actor=actor, action=action, target=t, origin=origin, summary="") for t in targets
    )

"""The audit log, read-only: no one adds, edits or deletes entries, not even a superuser; and
the admin screens of other apps whose acts it records (groups, jobs)."""

from django.contrib import admin
from django.contrib.auth.admin import GroupAdmin
from django.contrib.auth.models import Group
from django.db.models import QuerySet
from django.http import HttpRequest
from django_q.admin import FailAdmin, QueueAdmin, ScheduleAdmin, TaskAdmin, resubmit_task
from django_q.models import Failure, OrmQ, Schedule, Success, Task

from audit.admin_tools import AuditedFormsMixin, OperatorAdmin, audit_admin_acts
from audit.models import AuditAction, AuditEntry


@admin.register(AuditEntry)
class AuditEntryAdmin(OperatorAdmin):
    list_display = ["created_at", "actor", "action", "target_type", "target_id", "summary", "ip"]
    list_filter = ["action", "target_type"]
    list_select_related = ["actor"]
    search_fields = ["summary", "target_id", "actor__email", "ip"]
    search_help_text = "Search by summary, target id, actor email or IP."
    ordering = ["-created_at", "-id"]
    # Counting a large log on every page costs more than the exact total tells.
    show_full_result_count = False


admin.site.unregister(Group)


@admin.register(Group)
class AuditedGroupAdmin(AuditedFormsMixin, GroupAdmin):
    """Superusers may edit groups (the moderator group's permissions); each edit is audited."""


class AuditedResubmit:
    """django-q2's job screens, whose resubmit action is audited like every operator act."""

    actions = ["resubmit"]

    @admin.action(description="Resubmit the selected jobs")
    def resubmit(self, request: HttpRequest, queryset: QuerySet[Task]) -> None:
        audit_admin_acts(request, AuditAction.JOB_RESUBMIT, list(queryset))
        resubmit_task(self, request, queryset)


class FailedJobAdmin(AuditedResubmit, FailAdmin):
    pass


class FinishedJobAdmin(AuditedResubmit, TaskAdmin):
    pass


class ScheduledJobAdmin(AuditedFormsMixin, ScheduleAdmin):
    """Periodic jobs: operators may edit them; each edit is audited."""


class QueuedJobAdmin(AuditedFormsMixin, QueueAdmin):
    """The queue: deleting a queued job is audited."""


for model, model_admin in (
    (Failure, FailedJobAdmin),
    (Success, FinishedJobAdmin),
    (Schedule, ScheduledJobAdmin),
    (OrmQ, QueuedJobAdmin),
):
    admin.site.unregister(model)
    admin.site.register(model, model_admin)

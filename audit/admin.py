"""The audit log, read-only: no one adds, edits or deletes entries, not even a superuser."""

from django.contrib import admin
from django.contrib.auth.admin import GroupAdmin
from django.contrib.auth.models import Group

from audit.admin_tools import AuditedFormsMixin, OperatorAdmin
from audit.models import AuditEntry


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

"""Operators see users and their sessions, deactivate (ending every session) and reactivate
them; superusers make and unmake moderators. Operator login is throttled like any login."""

from collections.abc import Callable

from django.contrib import admin
from django.db.models import Count, Q, QuerySet
from django.http import HttpRequest
from django.utils import timezone

from accounts import moderation
from accounts.current_user import operator
from accounts.forms import ThrottledAdminAuthenticationForm
from accounts.models import ApiSession, User
from audit.admin_tools import OperatorAdmin, OperatorInline, apply_to_each
from core.request_origin import request_origin

admin.site.login_form = ThrottledAdminAuthenticationForm
admin.site.site_header = admin.site.site_title = "Agora operations"
admin.site.enable_nav_sidebar = False  # the lists need the width more

SESSION_FIELDS = ("kind", "created_at", "last_used_at", "expires_at", "revoked_at", "ip")


class ApiSessionInline(OperatorInline):
    """A user's sessions, API and browser; the token hash is not shown."""

    model = ApiSession
    fields = SESSION_FIELDS
    readonly_fields = SESSION_FIELDS
    ordering = ["-created_at"]


USER_FIELDS = (
    "email",
    "is_active",
    "is_staff",
    "is_superuser",
    "groups",
    "date_joined",
    "last_login",
)


@admin.register(User)
class UserAdmin(OperatorAdmin):
    list_display = [
        "email", "is_active", "is_staff", "is_superuser", "live_sessions", "date_joined",
        "last_login",
    ]  # fmt: skip
    list_filter = ["is_active", "is_staff", "is_superuser", "groups"]
    search_fields = ["email"]
    ordering = ["-date_joined", "-id"]
    fields = readonly_fields = USER_FIELDS
    inlines = [ApiSessionInline]
    actions = ["deactivate", "reactivate", "make_moderator", "remove_moderator"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[User]:
        live = Q(api_sessions__revoked_at=None, api_sessions__expires_at__gt=timezone.now())
        return (
            super()
            .get_queryset(request)
            .annotate(live_session_count=Count("api_sessions", filter=live))
        )

    @admin.display(description="live sessions", ordering="live_session_count")
    def live_sessions(self, user: User) -> int:
        return user.live_session_count  # type: ignore[attr-defined]

    def has_deactivate_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("accounts.deactivate_user")

    def has_superuser_permission(self, request: HttpRequest) -> bool:
        return request.user.is_superuser

    def _each(
        self,
        request: HttpRequest,
        queryset: QuerySet[User],
        act: Callable[..., bool],
        done: str,
        **choice: bool,
    ) -> None:
        """Run the moderation service `act` on each selected user, with `choice` (e.g.
        active=False) and this operator as the actor."""
        apply_to_each(
            request,
            queryset,
            lambda user: act(
                user_id=user.pk, actor=operator(request), origin=request_origin(request), **choice
            ),
            done=done,
        )

    @admin.action(
        permissions=["deactivate"], description="Deactivate selected users (ends their sessions)"
    )
    def deactivate(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        self._each(request, queryset, moderation.user_set_active, "deactivated", active=False)

    @admin.action(permissions=["deactivate"], description="Reactivate selected users")
    def reactivate(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        self._each(request, queryset, moderation.user_set_active, "reactivated", active=True)

    @admin.action(permissions=["superuser"], description="Make selected users moderators")
    def make_moderator(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        self._each(
            request, queryset, moderation.user_set_moderator, "made moderators", moderator=True
        )

    @admin.action(permissions=["superuser"], description="Remove the moderator role")
    def remove_moderator(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        self._each(
            request,
            queryset,
            moderation.user_set_moderator,
            "no longer moderators",
            moderator=False,
        )

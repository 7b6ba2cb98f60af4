"""Operators moderate listings: approve (pre-review), suspend and unsuspend, in bulk.
Secrets are not shown at all here: neither the shared secret nor the pool."""

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from accounts.current_user import operator
from audit.admin_tools import OperatorAdmin, apply_to_each
from audit.models import AuditAction
from core.request_origin import request_origin
from listings.models import Listing
from listings.moderation import MODERATION, listing_moderate

LISTING_FIELDS = (
    "seller",
    "service_name",
    "description",
    "unit_description",
    "endpoint_url",
    "price_per_unit",
    "currency",
    "delivery_mode",
    "status",
    "available_units",
    "units_sold",
    "created_at",
    "updated_at",
)


@admin.register(Listing)
class ListingAdmin(OperatorAdmin):
    list_display = [
        "id", "service_name", "seller", "status", "delivery_mode", "price_per_unit", "currency",
        "available_units", "units_sold", "created_at",
    ]  # fmt: skip
    list_filter = ["status", "delivery_mode", ("seller", admin.RelatedOnlyFieldListFilter)]
    list_select_related = ["seller"]
    search_fields = ["service_name", "description", "seller__email"]
    search_help_text = "Search by name, description or seller email."
    ordering = ["-id"]
    fields = readonly_fields = LISTING_FIELDS
    actions = ["approve", "suspend", "unsuspend"]

    def has_moderate_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("listings.moderate_listing")

    def _moderate(
        self, request: HttpRequest, queryset: QuerySet[Listing], action: AuditAction
    ) -> None:
        def act(listing: Listing) -> bool:
            if listing.status == MODERATION[action].new_status:
                return False
            listing_moderate(
                listing_id=listing.pk,
                action=action,
                actor=operator(request),
                origin=request_origin(request),
            )
            return True

        apply_to_each(request, queryset, act, done=MODERATION[action].done)

    @admin.action(permissions=["moderate"], description="Approve selected listings")
    def approve(self, request: HttpRequest, queryset: QuerySet[Listing]) -> None:
        self._moderate(request, queryset, AuditAction.LISTING_APPROVE)

    @admin.action(permissions=["moderate"], description="Suspend selected listings")
    def suspend(self, request: HttpRequest, queryset: QuerySet[Listing]) -> None:
        self._moderate(request, queryset, AuditAction.LISTING_SUSPEND)

    @admin.action(permissions=["moderate"], description="Unsuspend selected listings")
    def unsuspend(self, request: HttpRequest, queryset: QuerySet[Listing]) -> None:
        self._moderate(request, queryset, AuditAction.LISTING_UNSUSPEND)

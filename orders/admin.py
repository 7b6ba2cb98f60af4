"""Operators see orders with their payment trail (reservation, Stripe session, webhook
events) and refund paid ones through the refunds service; webhook events are read-only."""

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from accounts.current_user import operator
from audit.admin_tools import OperatorAdmin, OperatorInline, apply_to_each
from core.request_origin import request_origin
from orders.models import Order, OrderStatus, StripeEvent
from orders.refunds import order_refund

STRIPE_EVENT_FIELDS = ("event_id", "type", "outcome", "livemode", "received_at")

ORDER_FIELDS = ("buyer", "listing", "units", "unit_price", "total_price", "currency")
STATE_FIELDS = ("status", "created_at", "fulfilled_at", "released_at")
PAYMENT_FIELDS = (
    "payment_path", "checkout_session_id", "payment_intent_id", "refund_id", "refunded_at"
)  # fmt: skip


class StripeEventInline(OperatorInline):
    model = StripeEvent
    fields = STRIPE_EVENT_FIELDS
    readonly_fields = STRIPE_EVENT_FIELDS
    ordering = ["received_at"]


@admin.register(Order)
class OrderAdmin(OperatorAdmin):
    list_display = [
        "id", "buyer", "listing", "units", "total_price", "currency", "status", "payment_path",
        "created_at",
    ]  # fmt: skip
    list_filter = ["status", "payment_path"]
    list_select_related = ["buyer", "listing"]
    search_fields = ["=id", "buyer__email", "listing__service_name", "checkout_session_id"]
    search_help_text = "Search by order id, buyer email, listing name or Stripe session id."
    ordering = ["-id"]
    fieldsets = [
        (None, {"fields": ORDER_FIELDS}),
        ("State", {"fields": STATE_FIELDS}),
        ("Reservation", {"fields": ("reserved_until",)}),
        ("Payment", {"fields": PAYMENT_FIELDS}),
    ]
    readonly_fields = (*ORDER_FIELDS, *STATE_FIELDS, "reserved_until", *PAYMENT_FIELDS)
    inlines = [StripeEventInline]
    actions = ["refund"]

    def has_refund_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("orders.refund_order")

    @admin.action(permissions=["refund"], description="Refund selected orders")
    def refund(self, request: HttpRequest, queryset: QuerySet[Order]) -> None:
        def act(order: Order) -> bool:
            if order.status == OrderStatus.REFUNDED:
                return False
            order_refund(order_id=order.pk, actor=operator(request), origin=request_origin(request))
            return True

        apply_to_each(request, queryset, act, done="refunded")


@admin.register(StripeEvent)
class StripeEventAdmin(OperatorAdmin):
    list_display = ["event_id", "type", "order", "outcome", "livemode", "received_at"]
    list_filter = ["type", "outcome", "livemode"]
    list_select_related = ["order"]
    search_fields = ["event_id", "=order__id"]
    search_help_text = "Search by Stripe event id or order id."
    ordering = ["-received_at", "-id"]
    fields = readonly_fields = ("event_id", "type", "order", "outcome", "livemode", "received_at")

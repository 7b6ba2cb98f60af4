"""Checkout pages: the dev stand-in for Stripe Checkout, and the success and cancel pages
Stripe returns the buyer to. A signed link (orders.checkout_links) names the order."""

import uuid

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from orders import services, webhooks
from orders.checkout_links import order_id_from_token
from orders.errors import OrderStateConflict
from orders.models import Order


def _order(token: str) -> Order:
    order_id = order_id_from_token(token)
    order = (
        Order.objects.select_related("listing").filter(pk=order_id).first()
        if order_id is not None
        else None
    )
    if order is None:
        raise Http404("No such order.")
    return order


@require_http_methods(["GET", "POST"])
def dev_checkout(request: HttpRequest, token: str) -> HttpResponse:
    """Stands in for Stripe Checkout in development; paying sends the same event a real
    payment would through the webhook's own handler."""
    if not services.dev_checkout_enabled():
        raise Http404("The dev checkout runs only with DEBUG on and no Stripe key.")
    order = _order(token)
    if request.method == "POST":
        if request.POST.get("action") == "pay":
            # Like Stripe, whose session is expired by a cancel or release: only an order
            # still awaiting payment can be paid here (a stale page must not revive it).
            if order.status == Order.Status.AWAITING_PAYMENT:
                webhooks.stripe_event_handle(_dev_payment_event(order))
            return redirect("checkout-success", token=token)
        return redirect("checkout-cancel", token=token)
    return render(request, "orders/dev_checkout.html", {"order": order})


def _dev_payment_event(order: Order) -> dict[str, object]:
    return {
        "id": f"evt_dev_{uuid.uuid4().hex}",
        "type": "checkout.session.completed",
        "livemode": False,
        "data": {
            "object": {
                "id": f"cs_dev_{order.pk}",
                "metadata": {"order_id": str(order.pk)},
                "payment_status": "paid",
            }
        },
    }


@require_http_methods(["GET"])
def checkout_success(request: HttpRequest, token: str) -> HttpResponse:
    order = _order(token)
    services.order_checkout_reconcile(order_id=order.pk)  # the webhook may still be on its way
    order.refresh_from_db()
    return render(request, "orders/checkout_result.html", {"order": order, "page": "success"})


@require_http_methods(["GET", "POST"])
def checkout_cancel(request: HttpRequest, token: str) -> HttpResponse:
    order = _order(token)
    error = ""
    if request.method == "POST":
        try:
            order = services.order_cancel(order_id=order.pk, buyer=None)
        except OrderStateConflict as exc:
            error = exc.message
            order.refresh_from_db()
    context = {"order": order, "page": "cancel", "error": error}
    return render(request, "orders/checkout_result.html", context)


def _todo(*args, **kwargs):
    raise Http404


buy = my_orders = order_detail = order_cancel = sales = _todo

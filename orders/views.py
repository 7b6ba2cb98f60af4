"""Checkout pages: the dev stand-in for Stripe Checkout, and the success and cancel pages
Stripe returns the buyer to. A signed link (orders.checkout_links) names the order."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.template.defaultfilters import pluralize
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.current_user import page_user
from accounts.models import User
from core.errors import DomainError, NotFound
from core.pages import safe_next, show_domain_error
from listings.models import Listing
from listings.selectors import listing_get_visible
from listings.views import listing_detail_page, listing_get_for_page
from orders import selectors, services, webhooks
from orders.checkout_links import order_id_from_token
from orders.errors import IdempotencyKeyReused, OrderStateConflict
from orders.forms import BuyForm
from orders.models import Order
from orders.selectors import sales_list_for_seller


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
                webhooks.dev_checkout_pay(order_id=order.pk)
            return redirect("checkout-success", token=token)
        return redirect("checkout-cancel", token=token)
    return render(request, "orders/dev_checkout.html", {"order": order})


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


# --- Buyer pages ------------------------------------------------------------------------------
# Buying and cancelling call orders.services, the functions the API calls; reads go through the
# buyer-scoped selectors, so another buyer's order is a 404 here as in the API.

ORDERS_PAGE_SIZE = 20
KEY_ALREADY_USED = (
    "This form was already used for an earlier order with other units: check the units and "
    "buy again."
)


@require_GET
def listing_detail(request: HttpRequest, listing_id: int) -> HttpResponse:
    """The listing page with a fresh buy form."""
    listing = listing_get_for_page(request, listing_id)
    return listing_detail_page(request, listing, BuyForm(listing=listing))


@require_POST
def buy(request: HttpRequest, listing_id: int) -> HttpResponse:
    """Buy from the listing page: instant orders land on their order page, larger ones go on
    to pay (Stripe Checkout, or the dev checkout page). A refusal renders the listing page
    again with the reason next to the units, what was typed kept, and the API's status."""
    buyer = request.user
    if not isinstance(buyer, User):
        # This URL answers POST only: after logging in, come back to the listing.
        return redirect_to_login(reverse("listing-detail", args=[listing_id]))
    form = BuyForm(request.POST)
    if not form.is_valid():
        if form.has_error("idempotency_key"):
            form.renew_key()
        return _buy_refused(request, buyer, listing_id, form, None)
    try:
        outcome = services.order_create(
            buyer=buyer,
            listing_id=listing_id,
            units=form.cleaned_data["units"],
            idempotency_key=form.key(),
        )
    except IdempotencyKeyReused:
        # A page from before an earlier purchase (the back button), sent with other units.
        form.renew_key()
        return _buy_refused(
            request, buyer, listing_id, form, IdempotencyKeyReused(KEY_ALREADY_USED)
        )
    except DomainError as exc:
        return _buy_refused(request, buyer, listing_id, form, exc)
    order = outcome.order
    if order.status == Order.Status.AWAITING_PAYMENT and order.checkout_url:
        return redirect(order.checkout_url)
    if outcome.replayed:
        messages.info(request, "You already placed this order; nothing was bought twice.")
    elif order.status == Order.Status.FULFILLED:
        messages.success(
            request,
            f"You bought {order.units} unit{pluralize(order.units)} of "
            f"“{order.listing.service_name}”: your tokens are ready.",
        )
    return redirect("order-detail", order_id=order.pk)


def _buy_refused(
    request: HttpRequest,
    buyer: User,
    listing_id: int,
    form: BuyForm,
    exc: DomainError | None,
) -> HttpResponse:
    """The listing page again, as it is now, with the buyer's form and why it was refused.

    The reason goes on the form while the listing is still on sale to this buyer (so they can
    change the units), else on the page (sold out, paused, their own listing).
    """
    try:
        listing: Listing | None = listing_get_visible(viewer=buyer, listing_id=listing_id)
    except NotFound as not_found:
        if exc is None or exc.field == "listing_id":
            raise Http404(not_found.message) from not_found
        listing = None  # hidden since the buyer opened it: it may not be shown again
    if listing is not None:
        form.show_stock(listing)
    if exc is None:
        return listing_detail_page(request, listing, form, status=400)
    buyable = (
        listing is not None
        and listing.public_status == Listing.Status.ACTIVE
        and listing.seller_id != buyer.pk
    )
    show_domain_error(request, exc, form if buyable else None)
    return listing_detail_page(request, listing, form, status=exc.status_code)


@login_required
@require_GET
def my_orders(request: HttpRequest) -> HttpResponse:
    """The buyer's orders, newest first; token counts are annotations, so a page is one query."""
    orders = selectors.order_list_for_buyer(buyer=page_user(request))
    page = Paginator(orders, ORDERS_PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "orders/my_orders.html", {"page": page})


@login_required
@require_GET
def order_detail(request: HttpRequest, order_id: int) -> HttpResponse:
    try:
        order = selectors.order_get_for_buyer(buyer=page_user(request), order_id=order_id)
    except NotFound as exc:
        raise Http404(exc.message) from exc
    return render(request, "orders/order_detail.html", {"order": order})


@require_POST
def order_cancel(request: HttpRequest, order_id: int) -> HttpResponse:
    """Give up an order awaiting payment: its units go back on sale at once."""
    buyer = request.user
    if not isinstance(buyer, User):
        return redirect_to_login(reverse("order-detail", args=[order_id]))
    try:
        order = services.order_cancel(order_id=order_id, buyer=buyer)
    except NotFound as exc:
        raise Http404(exc.message) from exc
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(
            request,
            f"Order #{order.pk} is cancelled: its {order.units} unit{pluralize(order.units)} "
            "went back on sale and nothing was charged.",
        )
    return redirect(safe_next(request, reverse("order-detail", args=[order_id])))


SALES_PAGE_SIZE = 25


@login_required
@require_GET
def sales(request: HttpRequest) -> HttpResponse:
    """Orders of the seller's listings with their tokens, to revoke one if needed.

    Buyers appear by id only: their emails and the secrets they bought are not the
    seller's to see here (the seller already knows the secrets they uploaded).
    """
    seller = request.user
    if not isinstance(seller, User):
        raise PermissionDenied
    orders = sales_list_for_seller(seller=seller)
    page = Paginator(orders, SALES_PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "orders/sales.html", {"page": page})

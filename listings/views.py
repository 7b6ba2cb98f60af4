"""Listing pages: home, browse and detail for everyone; the seller's own pages below.

The detail page is rendered here with a buy form it is given: orders, which owns buying,
composes it (orders.views.listing_detail, and orders.views.buy when a purchase is refused),
so this app never imports the orders app (accounts <- listings <- orders).
"""

from collections.abc import Sequence
from typing import cast

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Page, Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.current_user import page_user
from accounts.models import User
from core.errors import DomainError, Forbidden, NotFound
from core.pages import safe_next, show_domain_error
from listings.cache import cached_for_anonymous, cached_public
from listings.forms import (
    ListingBrowseForm,
    ListingCreateForm,
    ListingEditForm,
    ListingStatusForm,
    PoolSecretsForm,
)
from listings.models import Listing
from listings.selectors import (
    BrowseFilters,
    listing_best_selling,
    listing_browse,
    listing_get_for_seller,
    listing_get_visible,
    listing_list_for_seller,
    listing_newest,
)
from listings.services import listing_create, listing_update, pool_secrets_add

PAGE_SIZE = 20


HOME_FEATURED = 6
HOME_NEWEST = 6


@require_GET
def home(request: HttpRequest) -> HttpResponse:
    """The shop window: best sellers in stock and the newest listings, with a search box.

    Each list is one query (seller profiles joined), whatever its length.
    """
    context = cached_public(
        "page:home",
        lambda: {
            "featured": list(listing_best_selling(limit=HOME_FEATURED)),
            "newest": list(listing_newest(limit=HOME_NEWEST)),
        },
    )
    return render(request, "listings/home.html", context)


@require_GET
def browse(request: HttpRequest) -> HttpResponse:
    """Search, filter, sort, paginate. Bad filters never fail the page: the form shows what
    is wrong and the listings are shown unfiltered (the API answers the same input with 400)."""
    form = ListingBrowseForm(request.GET or None)
    filters = form.filters() if form.is_bound and form.is_valid() else BrowseFilters()
    page = _browse_page(request, filters)
    seller_name = ""
    if filters.seller_id is not None and page.object_list:
        # The page's own rows name the seller (their profiles are joined): no extra query.
        profile = getattr(page[0].seller, "seller_profile", None)
        seller_name = profile.display_name if profile else ""
    context = {"form": form, "page": page, "filters": filters, "seller_name": seller_name}
    return render(request, "listings/browse.html", context)


def _browse_page(request: HttpRequest, filters: BrowseFilters) -> Page[Listing]:
    """The page of listings asked for, from the cache for anonymous visitors (signed-in
    users may see their own hidden listings). The cache keeps rows and counts, not the
    paginator, whose queryset would be fetched whole to be stored."""

    def read() -> tuple[list[Listing], int, int]:
        listings = listing_browse(viewer=request.user, filters=filters)
        page = Paginator(listings, PAGE_SIZE).get_page(request.GET.get("page"))
        return list(page.object_list), page.paginator.count, page.number

    rows, count, number = cached_for_anonymous(
        request.user, f"page:{request.get_full_path()}", read
    )
    # Only the count matters for the page links: paginate a range of that length.
    page = Paginator(cast("Sequence[Listing]", range(count)), PAGE_SIZE).page(number)
    page.object_list = rows
    return page


def listing_get_for_page(request: HttpRequest, listing_id: int) -> Listing:
    """The listing of a detail page (cached for anonymous visitors), or 404."""

    def read() -> Listing | None:
        try:
            return listing_get_visible(viewer=request.user, listing_id=listing_id)
        except NotFound:
            return None

    listing = cached_for_anonymous(request.user, f"page-detail:{listing_id}", read)
    if listing is None:
        raise Http404("No such listing.")
    return listing


def listing_detail_page(
    request: HttpRequest, listing: Listing | None, form: forms.Form, *, status: int = 200
) -> HttpResponse:
    """The listing page with its buy form: fresh from `detail`, or from the buy view with what
    the buyer typed and why it was refused. `listing` None: it went off sale (paused or
    suspended) while the buyer looked at it and may no longer be shown to them."""
    on_sale = listing is not None and listing.public_status == Listing.Status.ACTIVE
    own = listing is not None and listing.seller_id == request.user.pk
    context = {
        "listing": listing,
        "form": form,
        "on_sale": on_sale,
        "own": own,
        "small_order_limit": settings.SMALL_ORDER_LIMIT,
    }
    return render(request, "listings/detail.html", context, status=status)


# --- Seller pages -----------------------------------------------------------------------------
# Selling needs only an account. Every write goes through listings.services, the functions the
# API calls, so the pages enforce the same rules and answer others' listings the same way:
# 403 for someone else's visible listing, 404 for a hidden one.

SELLER_PAGE_SIZE = 25


def _own_listing(seller: User, listing_id: int) -> Listing:
    try:
        return listing_get_for_seller(seller=seller, listing_id=listing_id)
    except Forbidden as exc:
        raise PermissionDenied(exc.message) from exc
    except NotFound as exc:
        raise Http404(exc.message) from exc


@login_required
@require_GET
def dashboard(request: HttpRequest) -> HttpResponse:
    listings = listing_list_for_seller(seller=page_user(request))
    page = Paginator(listings, SELLER_PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "listings/sell_dashboard.html", {"page": page})


@login_required
@require_http_methods(["GET", "POST"])
def listing_new(request: HttpRequest) -> HttpResponse:
    seller = page_user(request)
    if request.method != "POST":
        form = ListingCreateForm()
        return render(request, "listings/sell_listing_new.html", {"form": form})
    form = ListingCreateForm(request.POST, request.FILES)
    if form.is_valid():
        shared = form.is_shared()
        try:
            listing = listing_create(
                seller=seller,
                details=form.details(),
                delivery_mode=form.cleaned_data["delivery_mode"],
                # Only the chosen mode's fields: the other set is on the page too.
                shared_secret=form.cleaned_data["secret"] if shared else None,
                units=form.cleaned_data["units"] if shared else None,
                pool_secrets=() if shared else form.secret_list(),
            )
        except DomainError as exc:
            show_domain_error(request, exc, form)
        else:
            messages.success(request, _created_message(listing))
            return redirect("sell-dashboard")
    form.forget_secrets()
    return render(request, "listings/sell_listing_new.html", {"form": form})


def _created_message(listing: Listing) -> str:
    message = f"“{listing.service_name}” is listed with {listing.available_units} units."
    if listing.status == Listing.Status.PENDING_REVIEW:
        message += " It goes on sale once an operator approves it."
    elif listing.available_units == 0:
        message += " Add units to put it on sale."
    return message


@login_required
@require_http_methods(["GET", "POST"])
def listing_edit(request: HttpRequest, listing_id: int) -> HttpResponse:
    seller = page_user(request)
    listing = _own_listing(seller, listing_id)
    if request.method != "POST":
        form = ListingEditForm(listing=listing)
    else:
        form = ListingEditForm(request.POST, listing=listing)
        if form.is_valid():
            changes = form.changes()
            if not changes:
                messages.info(request, "Nothing to save: no field was changed.")
                return redirect("sell-listing-edit", listing_id=listing.pk)
            try:
                listing_update(seller=seller, listing_id=listing.pk, changes=changes)
            except DomainError as exc:
                show_domain_error(request, exc, form)
            else:
                messages.success(request, f"Saved your changes to “{listing.service_name}”.")
                return redirect("sell-dashboard")
        form.forget_secrets()
    context = {"form": form, "listing": listing}
    return render(request, "listings/sell_listing_edit.html", context)


@login_required
@require_POST
def listing_status(request: HttpRequest, listing_id: int) -> HttpResponse:
    """Pause or resume (the same listing_update the API's PATCH status uses)."""
    seller = page_user(request)
    listing = _own_listing(seller, listing_id)
    form = ListingStatusForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose to pause or to resume the listing.")
        return redirect(safe_next(request, "sell-dashboard"))
    try:
        listing = listing_update(
            seller=seller, listing_id=listing.pk, changes={"status": form.cleaned_data["status"]}
        )
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        if listing.status == Listing.Status.PAUSED:
            messages.success(request, f"“{listing.service_name}” is paused: buyers cannot see it.")
        else:
            messages.success(request, f"“{listing.service_name}” is on sale again.")
    return redirect(safe_next(request, "sell-dashboard"))


@login_required
@require_http_methods(["GET", "POST"])
def listing_secrets(request: HttpRequest, listing_id: int) -> HttpResponse:
    """Add secrets to a pool listing; each one is a unit on sale."""
    seller = page_user(request)
    listing = _own_listing(seller, listing_id)
    if listing.delivery_mode != Listing.DeliveryMode.POOL:
        messages.error(
            request, "This is a shared listing: change its secret and units on this page."
        )
        return redirect("sell-listing-edit", listing_id=listing.pk)
    if request.method != "POST":
        form = PoolSecretsForm()
    else:
        form = PoolSecretsForm(request.POST, request.FILES)
        if form.is_valid():
            secrets = form.secret_list()
            try:
                listing = pool_secrets_add(seller=seller, listing_id=listing.pk, secrets=secrets)
            except DomainError as exc:
                show_domain_error(request, exc, form)
            else:
                messages.success(
                    request,
                    f"Added {len(secrets)} secret{'' if len(secrets) == 1 else 's'}: "
                    f"{listing.available_units} units of “{listing.service_name}” on sale.",
                )
                return redirect("sell-listing-secrets", listing_id=listing.pk)
        form.forget_secrets()
    context = {"form": form, "listing": listing}
    return render(request, "listings/sell_listing_secrets.html", context)

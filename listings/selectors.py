"""Reads of listings: what a viewer may see, browse with filters, owner-scoped lookups."""

from dataclasses import dataclass
from decimal import Decimal

from django.contrib.auth.models import AnonymousUser
from django.db.models import Q, QuerySet

from accounts.models import User
from core.errors import Forbidden, NotFound
from listings.models import Listing

ORDERINGS = {
    "newest": ("-created_at", "-id"),
    "price": ("price_per_unit", "-id"),
    "-price": ("-price_per_unit", "-id"),
    "best_selling": ("-units_sold", "-id"),
}


@dataclass(frozen=True)
class BrowseFilters:
    search: str = ""
    min_price: Decimal | None = None
    max_price: Decimal | None = None
    seller_id: int | None = None
    in_stock: bool = False
    ordering: str = "newest"


def _visible_q(viewer: User | AnonymousUser) -> Q:
    """Active and sold-out listings for everyone; hidden ones only for their seller and staff."""
    if viewer.is_authenticated and viewer.is_staff:
        return Q()
    visible = Q(status__in=Listing.VISIBLE_STATUSES)
    if viewer.is_authenticated:
        visible |= Q(seller_id=viewer.pk)
    return visible


def _with_seller(queryset: QuerySet[Listing]) -> QuerySet[Listing]:
    return queryset.select_related("seller__seller_profile")


def listing_browse(*, viewer: User | AnonymousUser, filters: BrowseFilters) -> QuerySet[Listing]:
    queryset = Listing.objects.filter(_visible_q(viewer))
    if filters.search:
        queryset = queryset.filter(
            Q(service_name__icontains=filters.search) | Q(description__icontains=filters.search)
        )
    if filters.min_price is not None:
        queryset = queryset.filter(price_per_unit__gte=filters.min_price)
    if filters.max_price is not None:
        queryset = queryset.filter(price_per_unit__lte=filters.max_price)
    if filters.seller_id is not None:
        queryset = queryset.filter(seller_id=filters.seller_id)
    if filters.in_stock:
        queryset = queryset.filter(available_units__gt=0)
    return _with_seller(queryset).order_by(*ORDERINGS[filters.ordering])


def listing_get_visible(*, viewer: User | AnonymousUser, listing_id: int) -> Listing:
    listing = _with_seller(Listing.objects.filter(_visible_q(viewer))).filter(pk=listing_id).first()
    if listing is None:
        raise NotFound("No such listing.")
    return listing


def listing_get_for_seller(*, seller: User, listing_id: int) -> Listing:
    """The seller's own listing; 403 if it is someone else's visible listing, else 404."""
    listing = listing_get_visible(viewer=seller, listing_id=listing_id)
    if listing.seller_id != seller.pk:
        raise Forbidden("Only the seller of this listing can change it.")
    return listing


def listing_list_for_seller(*, seller: User) -> QuerySet[Listing]:
    """Every listing of the seller, hidden ones included, newest first (the dashboard).

    Units left and units sold are columns of the row, so a page of listings is one query
    whatever its size.
    """
    return Listing.objects.filter(seller=seller).order_by("-created_at", "-id")


def listing_best_selling(*, limit: int) -> QuerySet[Listing]:
    """The home page's shop window: public listings in stock that have sold, best first.

    Public only, whoever asks: the front page is the same for everyone, so a seller's paused
    listing never shows there (browse shows it to them, with its status).
    """
    queryset = Listing.objects.filter(
        status__in=Listing.VISIBLE_STATUSES, available_units__gt=0, units_sold__gt=0
    )
    return _with_seller(queryset).order_by(*ORDERINGS["best_selling"])[:limit]


def listing_newest(*, limit: int) -> QuerySet[Listing]:
    """The newest public listings (sold-out ones included, as browse shows them)."""
    queryset = Listing.objects.filter(status__in=Listing.VISIBLE_STATUSES)
    return _with_seller(queryset).order_by(*ORDERINGS["newest"])[:limit]

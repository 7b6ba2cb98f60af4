"""Reads of orders, always scoped to the person asking."""

from django.db.models import Count, Prefetch, Q, QuerySet

from accounts.models import User
from core.errors import NotFound
from orders.models import Order, OrderStatus
from tokens_vault.models import Token


def _with_counts(queryset: QuerySet[Order]) -> QuerySet[Order]:
    return queryset.select_related("listing").annotate(
        tokens_issued=Count("tokens"),
        tokens_revoked=Count("tokens", filter=Q(tokens__revoked_at__isnull=False)),
    )


def order_with_counts_when_new(order: Order) -> Order:
    """An order this request created, with the counts _with_counts adds: all its tokens are
    live, one per unit once fulfilled. Saves a grouped query on every purchase."""
    order.tokens_issued = order.units if order.status == OrderStatus.FULFILLED else 0  # type: ignore[attr-defined]
    order.tokens_revoked = 0  # type: ignore[attr-defined]
    return order


def order_list_for_buyer(*, buyer: User) -> QuerySet[Order]:
    return _with_counts(Order.objects.filter(buyer=buyer)).order_by("-id")


def order_get_for_buyer(*, buyer: User, order_id: int) -> Order:
    order = order_list_for_buyer(buyer=buyer).filter(pk=order_id).first()
    if order is None:
        raise NotFound("No such order.")
    return order


def order_get(*, order_id: int) -> Order:
    """Any order, for operators (the refund service checks who may act on it)."""
    order = _with_counts(Order.objects.filter(pk=order_id)).first()
    if order is None:
        raise NotFound("No such order.")
    return order


def sales_list_for_seller(*, seller: User) -> QuerySet[Order]:
    """Orders of the seller's listings; buyers appear by id, their secrets never."""
    # Only what the sales page shows of a token: never its secret reference.
    tokens = Token.objects.only("id", "order_id", "revoked_at").order_by("id")
    return (
        _with_counts(Order.objects.filter(listing__seller=seller))
        .prefetch_related(Prefetch("tokens", queryset=tokens))
        .order_by("-id")
    )

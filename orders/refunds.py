"""Refunds: money back through Stripe when it came through Stripe, tokens revoked."""

import logging

from django.db import transaction
from django.utils import timezone

from accounts.models import User
from audit.models import AuditAction
from audit.services import audit_record
from core.errors import Forbidden, NotFound
from core.request_origin import RequestOrigin
from orders import stripe_gateway
from orders.errors import OrderStateConflict, PaymentProviderError
from orders.mails import order_mail_enqueue
from orders.models import Order, OrderStatus
from tokens_vault.services import tokens_revoke_for_order

logger = logging.getLogger(__name__)

REFUNDABLE = (OrderStatus.FULFILLED, OrderStatus.REFUND_PENDING)
ALREADY_REFUNDED = "charge_already_refunded"


def order_refund(
    *, order_id: int, actor: User | None, origin: RequestOrigin | None = None
) -> Order:
    """Refund a paid order, idempotently. `actor` None is the system settling a
    refund_pending order; a person must be an operator. The audit entry is written with
    the state change, so a retried refund is recorded once."""
    order = Order.objects.filter(pk=order_id).first()
    if actor is not None and not actor.is_staff:
        if order is None or order.buyer_id != actor.pk:
            raise NotFound("No such order.")
        raise Forbidden("Only operators can refund orders.")
    if order is None:
        raise NotFound("No such order.")
    if order.status == OrderStatus.REFUNDED:
        return order
    if order.status not in REFUNDABLE:
        raise OrderStateConflict(f"Only paid orders can be refunded; this one is {order.status}.")
    refund_id = ""
    if order.payment_intent_id:  # paid through Stripe; the same key makes a retry the same refund
        try:
            refund_id = stripe_gateway.refund_create(
                payment_intent_id=order.payment_intent_id, order_id=order.pk
            )
        except stripe_gateway.PaymentGatewayError as exc:
            if exc.code != ALREADY_REFUNDED:
                raise PaymentProviderError(
                    "Stripe did not accept the refund; nothing changed. Try again.",
                    transient=exc.transient,
                ) from exc
            # Refunded outside Agora (Stripe's dashboard): the money is back, finish our side.
            logger.info("order %s was already refunded on Stripe", order.pk)
    with transaction.atomic():
        order = Order.objects.select_for_update().get(pk=order_id)
        if order.status in REFUNDABLE:
            order.transition_to(OrderStatus.REFUNDED)
            order.refund_id = refund_id
            order.refunded_at = timezone.now()
            order.save()
            order_mail_enqueue(order.pk, OrderStatus.REFUNDED)
            revoked = tokens_revoke_for_order(order_id=order.pk, actor=actor)
            audit_record(
                actor=actor,
                action=AuditAction.ORDER_REFUND,
                target=order,
                origin=origin,
                summary=f"Refunded {order.total_price} {order.currency}"
                f"{' on Stripe' if order.payment_intent_id else ''}; {revoked} tokens revoked",
            )
    return order


def order_refund_settle(*, order_id: int) -> None:
    """Refund a paid-too-late order now if Stripe answers; else the sweeper tries again."""
    try:
        order_refund(order_id=order_id, actor=None)
    except PaymentProviderError:
        logger.warning("order %s: automatic refund not settled yet", order_id)

"""The buyer's mails about an order (SPEC §14): enqueued in the transaction that moves the
order, sent by a job worker (core.jobs, core.mail)."""

from django.conf import settings
from django.urls import reverse

from core.jobs import enqueue
from core.mail import mail_send
from orders.models import Order, OrderStatus

# The mail each status sends its buyer, by template (templates/orders/mail/<name>...).
ORDER_MAILS = {
    OrderStatus.FULFILLED: "receipt",
    OrderStatus.EXPIRED: "expired",
    OrderStatus.REFUNDED: "refunded",
}


def order_mail_enqueue(order_id: int, status: OrderStatus) -> None:
    """Call in the transaction that moves the order to `status`."""
    enqueue("orders.mails.order_mail", order_id, str(status))


def order_mail(order_id: int, status: str) -> None:
    """The mail for the order's move to `status`: what was bought or released, the amounts and
    where to look; never a secret (the tokens page shows those)."""
    order = Order.objects.select_related("listing", "buyer").filter(pk=order_id).first()
    if order is None or not order.buyer.is_active:
        return
    context = {
        "order": order,
        "order_url": settings.SITE_URL + reverse("order-detail", args=[order.pk]),
        "tokens_url": settings.SITE_URL + reverse("my-tokens"),
    }
    template = f"orders/mail/{ORDER_MAILS[OrderStatus(status)]}"
    mail_send(to=order.buyer.email, template=template, context=context)

"""Order endpoints: buy, list and read my orders, cancel, refund, my sales; Stripe webhook."""

import logging

from django.db import DatabaseError
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import permissions, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.current_user import request_user
from core.api import UNAVAILABLE_DETAIL, InputSerializer, error_responses, validated
from core.errors import ServiceUnavailable
from core.pagination import PageNumberPagination, paginated_response
from core.request_origin import request_origin
from orders import selectors, services, stripe_gateway, webhooks
from orders.models import Order
from orders.refunds import order_refund

logger = logging.getLogger(__name__)


class OrderCreateSerializer(InputSerializer):
    listing_id = serializers.IntegerField(min_value=1, max_value=2**63 - 1)
    units = serializers.IntegerField(min_value=1, max_value=services.MAX_UNITS_PER_ORDER)


class OrderSerializer(serializers.ModelSerializer[Order]):
    """An order as its buyer sees it (the checkout link is theirs alone)."""

    listing_id = serializers.IntegerField()
    service_name = serializers.CharField(source="listing.service_name")
    unit_description = serializers.CharField(source="listing.unit_description")
    total_price = serializers.DecimalField(max_digits=16, decimal_places=2)
    payment_requires_confirmation = serializers.SerializerMethodField()
    checkout_url = serializers.SerializerMethodField()
    tokens_issued = serializers.IntegerField()
    tokens_revoked = serializers.IntegerField()

    class Meta:
        model = Order
        fields = [
            "id",
            "listing_id",
            "service_name",
            "unit_description",
            "units",
            "unit_price",
            "total_price",
            "currency",
            "status",
            "payment_path",
            "payment_requires_confirmation",
            "checkout_url",
            "reserved_until",
            "tokens_issued",
            "tokens_revoked",
            "created_at",
            "fulfilled_at",
            "released_at",
            "refunded_at",
        ]

    def get_payment_requires_confirmation(self, order: Order) -> bool:
        return order.status == Order.Status.AWAITING_PAYMENT

    def get_checkout_url(self, order: Order) -> str | None:
        """Where to pay, while the order awaits payment."""
        if order.status == Order.Status.AWAITING_PAYMENT and order.checkout_url:
            return order.checkout_url
        return None


class SaleSerializer(OrderSerializer):
    """An order as the seller of its listing sees it: no buyer secrets, no checkout link."""

    buyer_id = serializers.IntegerField()
    token_ids = serializers.SerializerMethodField()

    class Meta(OrderSerializer.Meta):
        fields = [
            *(f for f in OrderSerializer.Meta.fields if f != "checkout_url"),
            "buyer_id",
            "token_ids",
        ]

    def get_token_ids(self, order: Order) -> list[int]:
        return [token.pk for token in order.tokens.all()]


IDEMPOTENCY_KEY = OpenApiParameter(
    "Idempotency-Key",
    # 1 to 255 printable ASCII characters (services._check_idempotency_key); HTTP drops
    # spaces around a header's value, so the first and the last are not spaces.
    {"type": "string", "pattern": r"^[!-~](?:[ -~]{0,253}[!-~])?$"},
    OpenApiParameter.HEADER,
    description="Retrying with the same key returns the first order instead of buying twice.",
)


class OrderListApi(APIView):
    pagination_class = PageNumberPagination  # documents the page and its parameters

    @extend_schema(responses={200: OrderSerializer(many=True), **error_responses(400, 401, 404)})
    def get(self, request: Request) -> Response:
        return paginated_response(
            request,
            self,
            selectors.order_list_for_buyer(buyer=request_user(request)),
            OrderSerializer,
        )

    @extend_schema(
        request=OrderCreateSerializer,
        parameters=[IDEMPOTENCY_KEY],
        responses={201: OrderSerializer, **error_responses(400, 401, 403, 409, 415, 502, 503)},
    )
    def post(self, request: Request) -> Response:
        """Buy units: instantly (201 `fulfilled`), or reserved with a `checkout_url` to pay.

        Sent again with the same Idempotency-Key, it answers with the first order and where to
        pay it; 409 `checkout_pending` means that order's payment page is still being opened:
        retry in a moment.
        """
        data = validated(OrderCreateSerializer, request)
        outcome = services.order_create(
            buyer=request_user(request),
            listing_id=data["listing_id"],
            units=data["units"],
            idempotency_key=request.headers.get("Idempotency-Key"),
        )
        if outcome.replayed:  # the first request's order, as it is now
            order = selectors.order_get_for_buyer(
                buyer=request_user(request), order_id=outcome.order.pk
            )
        else:  # made by this request: its counts are known without another query
            order = selectors.order_with_counts_when_new(outcome.order)
        headers = {"Idempotent-Replayed": "true"} if outcome.replayed else None
        return Response(
            OrderSerializer(order).data, status=status.HTTP_201_CREATED, headers=headers
        )


class OrderDetailApi(APIView):
    @extend_schema(responses={200: OrderSerializer, **error_responses(401, 404)})
    def get(self, request: Request, order_id: int) -> Response:
        order = selectors.order_get_for_buyer(buyer=request_user(request), order_id=order_id)
        return Response(OrderSerializer(order).data)


class SaleListApi(APIView):
    pagination_class = PageNumberPagination  # documents the page and its parameters

    @extend_schema(responses={200: SaleSerializer(many=True), **error_responses(400, 401, 404)})
    def get(self, request: Request) -> Response:
        return paginated_response(
            request,
            self,
            selectors.sales_list_for_seller(seller=request_user(request)),
            SaleSerializer,
        )


class OrderCancelApi(APIView):
    @extend_schema(
        request=None, responses={200: OrderSerializer, **error_responses(401, 403, 404, 409)}
    )
    def post(self, request: Request, order_id: int) -> Response:
        """Cancel an order awaiting payment: its units are released at once."""
        buyer = request_user(request)
        services.order_cancel(order_id=order_id, buyer=buyer)
        return Response(
            OrderSerializer(selectors.order_get_for_buyer(buyer=buyer, order_id=order_id)).data
        )


class OrderRefundApi(APIView):
    @extend_schema(
        request=None,
        responses={200: OrderSerializer, **error_responses(401, 403, 404, 409, 502, 503)},
    )
    def post(self, request: Request, order_id: int) -> Response:
        """Operators: refund a paid order (through Stripe when paid there), revoke its tokens."""
        order_refund(order_id=order_id, actor=request_user(request), origin=request_origin(request))
        return Response(OrderSerializer(selectors.order_get(order_id=order_id)).data)


class StripeWebhookApi(APIView):
    """Stripe's deliveries; authenticated by the signature over the raw body, not a session."""

    authentication_classes: list[type] = []
    permission_classes = [permissions.AllowAny]
    # Stripe retries what it cannot deliver; a 429 would only delay payments. Unsigned
    # requests are refused before any work, which is what the signature is for.
    throttle_classes: list[type] = []

    @extend_schema(
        request=OpenApiTypes.OBJECT,
        parameters=[OpenApiParameter("Stripe-Signature", str, OpenApiParameter.HEADER)],
        responses={200: OpenApiTypes.OBJECT, 400: OpenApiTypes.OBJECT, 503: OpenApiTypes.OBJECT},
    )
    def post(self, request: Request) -> Response:
        try:
            event = stripe_gateway.webhook_event(
                request.body, request.headers.get("Stripe-Signature")
            )
        except stripe_gateway.InvalidWebhook as exc:
            logger.warning("stripe webhook rejected: %s", exc)
            return Response({"detail": "Invalid webhook signature or payload."}, status=400)
        except stripe_gateway.UnusableEvent as exc:
            # Signed by Stripe's secret: refusing it would only make Stripe retry it for days.
            logger.warning("stripe webhook not applied, acknowledged: %s", exc)
            return Response({"received": True, "outcome": webhooks.MALFORMED})
        try:
            outcome = webhooks.stripe_event_handle(event)
        except DatabaseError:
            # Stripe retries non-2xx deliveries: nothing was applied, so the retry is safe.
            logger.exception("stripe webhook: database unavailable")
            raise ServiceUnavailable(UNAVAILABLE_DETAIL) from None
        return Response({"received": True, "outcome": outcome})

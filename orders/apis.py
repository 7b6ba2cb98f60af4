"""Order endpoints: buy, list and read my orders, list my sales."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from marketplace.api import InputSerializer, request_user, validated
from marketplace.pagination import paginated_response
from orders import selectors, services
from orders.models import Order


class OrderCreateSerializer(InputSerializer):
    listing_id = serializers.IntegerField(min_value=1, max_value=2**63 - 1)
    units = serializers.IntegerField(min_value=1, max_value=services.MAX_UNITS_PER_ORDER)


class OrderSerializer(serializers.ModelSerializer[Order]):
    listing_id = serializers.IntegerField()
    service_name = serializers.CharField(source="listing.service_name")
    unit_description = serializers.CharField(source="listing.unit_description")
    total_price = serializers.DecimalField(max_digits=16, decimal_places=2)
    payment_requires_confirmation = serializers.SerializerMethodField()
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
            "tokens_issued",
            "tokens_revoked",
            "created_at",
            "fulfilled_at",
        ]

    def get_payment_requires_confirmation(self, order: Order) -> bool:
        return order.status == Order.Status.AWAITING_PAYMENT


class SaleSerializer(OrderSerializer):
    buyer_id = serializers.IntegerField()
    token_ids = serializers.SerializerMethodField()

    class Meta(OrderSerializer.Meta):
        fields = [*OrderSerializer.Meta.fields, "buyer_id", "token_ids"]

    def get_token_ids(self, order: Order) -> list[int]:
        return [token.pk for token in order.tokens.all()]


IDEMPOTENCY_KEY = OpenApiParameter(
    "Idempotency-Key",
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    description="Retrying with the same key returns the first order instead of buying twice.",
)


class OrderListApi(APIView):
    @extend_schema(responses=OrderSerializer(many=True))
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
        responses={201: OrderSerializer},
    )
    def post(self, request: Request) -> Response:
        data = validated(OrderCreateSerializer, request)
        outcome = services.order_create(
            buyer=request_user(request),
            listing_id=data["listing_id"],
            units=data["units"],
            idempotency_key=request.headers.get("Idempotency-Key"),
        )
        order = selectors.order_get_for_buyer(
            buyer=request_user(request), order_id=outcome.order.pk
        )
        headers = {"Idempotent-Replayed": "true"} if outcome.replayed else None
        return Response(
            OrderSerializer(order).data, status=status.HTTP_201_CREATED, headers=headers
        )


class OrderDetailApi(APIView):
    @extend_schema(responses=OrderSerializer)
    def get(self, request: Request, order_id: int) -> Response:
        order = selectors.order_get_for_buyer(buyer=request_user(request), order_id=order_id)
        return Response(OrderSerializer(order).data)


class SaleListApi(APIView):
    @extend_schema(responses=SaleSerializer(many=True))
    def get(self, request: Request) -> Response:
        return paginated_response(
            request,
            self,
            selectors.sales_list_for_seller(seller=request_user(request)),
            SaleSerializer,
        )

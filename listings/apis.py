"""Listing endpoints: public browse and detail, seller create/update, pool uploads."""

from decimal import Decimal
from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field
from rest_framework import permissions, serializers, status
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from listings import selectors, services
from listings.forms import ListingBrowseForm
from listings.models import CURRENCIES, Listing
from marketplace.api import InputSerializer, request_user, validated
from marketplace.pagination import paginated_response


def price_field(*, required: bool = True) -> serializers.DecimalField:
    return serializers.DecimalField(
        max_digits=10, decimal_places=2, min_value=Decimal("0.01"), required=required
    )


class SellerSummarySerializer(serializers.Serializer[Any]):
    id = serializers.IntegerField()
    display_name = serializers.CharField()


class ListingSerializer(serializers.ModelSerializer[Listing]):
    status = serializers.ChoiceField(source="public_status", choices=Listing.PUBLIC_STATUSES)
    seller = serializers.SerializerMethodField()

    class Meta:
        model = Listing
        fields = [
            "id",
            "seller",
            "service_name",
            "description",
            "unit_description",
            "price_per_unit",
            "currency",
            "available_units",
            "units_sold",
            "status",
            "delivery_mode",
            "endpoint_url",
            "created_at",
            "updated_at",
        ]

    @extend_schema_field(SellerSummarySerializer)
    def get_seller(self, listing: Listing) -> dict[str, Any]:
        profile = getattr(listing.seller, "seller_profile", None)
        return {
            "id": listing.seller_id,
            "display_name": profile.display_name if profile else f"Seller {listing.seller_id}",
        }


class ListingDetailsFields(InputSerializer):
    service_name = serializers.CharField(max_length=120)
    description = serializers.CharField(max_length=5000, required=False, allow_blank=True)
    unit_description = serializers.CharField(max_length=120)
    price_per_unit = price_field()
    currency = serializers.ChoiceField(choices=CURRENCIES, required=False)
    endpoint_url = serializers.URLField(max_length=500, required=False, allow_blank=True)


class ListingCreateSerializer(ListingDetailsFields):
    delivery_mode = serializers.ChoiceField(choices=Listing.DeliveryMode.choices)
    secret = serializers.CharField(
        max_length=services.MAX_SECRET_LENGTH,
        required=False,
        write_only=True,
        help_text="shared listings: the secret every unit delivers",
    )
    units = serializers.IntegerField(
        min_value=0, max_value=services.MAX_UNITS, required=False, help_text="shared listings"
    )
    secrets = serializers.ListField(
        child=serializers.CharField(max_length=services.MAX_SECRET_LENGTH),
        max_length=services.MAX_SECRETS_PER_UPLOAD,
        required=False,
        write_only=True,
        help_text="pool listings: one secret per unit",
    )


class ListingUpdateSerializer(InputSerializer):
    service_name = serializers.CharField(max_length=120, required=False)
    description = serializers.CharField(max_length=5000, required=False, allow_blank=True)
    unit_description = serializers.CharField(max_length=120, required=False)
    price_per_unit = price_field(required=False)
    currency = serializers.ChoiceField(choices=CURRENCIES, required=False)
    endpoint_url = serializers.URLField(max_length=500, required=False, allow_blank=True)
    status = serializers.ChoiceField(
        choices=[Listing.Status.ACTIVE, Listing.Status.PAUSED], required=False
    )
    units = serializers.IntegerField(min_value=0, max_value=services.MAX_UNITS, required=False)
    secret = serializers.CharField(
        max_length=services.MAX_SECRET_LENGTH, required=False, write_only=True
    )


class PoolSecretsSerializer(InputSerializer):
    secrets = serializers.ListField(
        child=serializers.CharField(max_length=services.MAX_SECRET_LENGTH),
        min_length=1,
        max_length=services.MAX_SECRETS_PER_UPLOAD,
        write_only=True,
    )


BROWSE_PARAMETERS = [
    OpenApiParameter("search", str, description="words in the name or description"),
    OpenApiParameter("min_price", OpenApiTypes.DECIMAL),
    OpenApiParameter("max_price", OpenApiTypes.DECIMAL),
    OpenApiParameter("seller", int, description="seller's user id"),
    OpenApiParameter("in_stock", bool),
    OpenApiParameter("ordering", str, enum=list(selectors.ORDERINGS)),
    OpenApiParameter("page", int),
    OpenApiParameter("page_size", int),
]


class ListingListApi(APIView):
    permission_classes = [permissions.IsAuthenticatedOrReadOnly]

    @extend_schema(parameters=BROWSE_PARAMETERS, responses=ListingSerializer(many=True))
    def get(self, request: Request) -> Response:
        form = ListingBrowseForm(request.query_params)
        if not form.is_valid():
            raise ValidationError(form.errors.get_json_data())
        listings = selectors.listing_browse(viewer=request.user, filters=form.filters())
        return paginated_response(request, self, listings, ListingSerializer)

    @extend_schema(request=ListingCreateSerializer, responses={201: ListingSerializer})
    def post(self, request: Request) -> Response:
        data = dict(validated(ListingCreateSerializer, request))
        listing = services.listing_create(
            seller=request_user(request),
            delivery_mode=data.pop("delivery_mode"),
            shared_secret=data.pop("secret", None),
            units=data.pop("units", None),
            pool_secrets=data.pop("secrets", ()),
            details=services.ListingDetails(**data),
        )
        listing = selectors.listing_get_visible(viewer=request.user, listing_id=listing.pk)
        return Response(ListingSerializer(listing).data, status=status.HTTP_201_CREATED)


class ListingDetailApi(APIView):
    permission_classes = [permissions.IsAuthenticatedOrReadOnly]

    @extend_schema(responses=ListingSerializer)
    def get(self, request: Request, listing_id: int) -> Response:
        listing = selectors.listing_get_visible(viewer=request.user, listing_id=listing_id)
        return Response(ListingSerializer(listing).data)

    @extend_schema(request=ListingUpdateSerializer, responses=ListingSerializer)
    def patch(self, request: Request, listing_id: int) -> Response:
        changes = validated(ListingUpdateSerializer, request)
        services.listing_update(
            seller=request_user(request), listing_id=listing_id, changes=changes
        )
        listing = selectors.listing_get_visible(viewer=request.user, listing_id=listing_id)
        return Response(ListingSerializer(listing).data)


class PoolSecretsApi(APIView):
    @extend_schema(request=PoolSecretsSerializer, responses={201: ListingSerializer})
    def post(self, request: Request, listing_id: int) -> Response:
        data = validated(PoolSecretsSerializer, request)
        services.pool_secrets_add(
            seller=request_user(request), listing_id=listing_id, secrets=data["secrets"]
        )
        listing = selectors.listing_get_visible(viewer=request.user, listing_id=listing_id)
        return Response(ListingSerializer(listing).data, status=status.HTTP_201_CREATED)

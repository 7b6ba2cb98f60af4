"""Listing endpoints: public browse and detail, seller create/update, pool uploads."""

import re
from decimal import Decimal
from typing import Any

from django.http import QueryDict
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field
from rest_framework import permissions, serializers, status
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.current_user import request_user
from core.api import InputSerializer, error_responses, validated
from core.pagination import PageNumberPagination, paginated_response
from listings import selectors, services
from listings.forms import ListingBrowseForm
from listings.models import CURRENCIES, Listing
from listings.response_cache import public_response

# A price as the schema spells it: above 0, at most 8 digits before the point and 2 after.
PRICE_PATTERN = r"^(?:[1-9][0-9]{0,7}(?:\.[0-9]{1,2})?|0\.(?:0[1-9]|[1-9][0-9]?))$"
# A bound of a price range, which may be 0.
PRICE_BOUND_PATTERN = r"^(?:0|[1-9][0-9]{0,7})(?:\.[0-9]{1,2})?$"


@extend_schema_field(
    {"type": "string", "format": "decimal", "pattern": PRICE_PATTERN, "example": "9.99"}
)
class PriceField(serializers.DecimalField):
    """A price as a decimal string ("9.99"); DRF would also take "09.990" or " 9.99"."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(max_digits=10, decimal_places=2, min_value=Decimal("0.01"), **kwargs)

    def to_internal_value(self, data: Any) -> Decimal:
        value = super().to_internal_value(data)  # DRF's messages for bad numbers and bounds
        if not (isinstance(data, str) and re.fullmatch(PRICE_PATTERN, data)):
            raise ValidationError('Write the price like "9.99": at most 2 decimals.')
        return value


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
    price_per_unit = PriceField()
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
    price_per_unit = PriceField(required=False)
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
    OpenApiParameter(
        "search",
        {"type": "string", "maxLength": 100},
        description="words in the name or description",
    ),
    OpenApiParameter("min_price", {"type": "string", "pattern": PRICE_BOUND_PATTERN}),
    OpenApiParameter("max_price", {"type": "string", "pattern": PRICE_BOUND_PATTERN}),
    OpenApiParameter(
        "seller",
        {"type": "integer", "minimum": 1, "maximum": 2**63 - 1},
        description="seller's user id",
    ),
    OpenApiParameter("in_stock", bool),
    OpenApiParameter("ordering", str, enum=list(selectors.ORDERINGS)),
]

# The browse form also serves the HTML page, where an empty field means "any" and a checkbox
# sends "on"; the API takes these parameters only as documented above.
BROWSE_FORMATS = {
    "min_price": (PRICE_BOUND_PATTERN, 'A price like "9.99".'),
    "max_price": (PRICE_BOUND_PATTERN, 'A price like "9.99".'),
    "seller": (r"^[1-9][0-9]*$", "A user id."),
    "in_stock": (r"^(?:true|false)$", '"true" or "false".'),
    "ordering": (f"^(?:{'|'.join(map(re.escape, selectors.ORDERINGS))})$", "Not an ordering."),
}


def _browse_filters(query: QueryDict) -> selectors.BrowseFilters:
    errors = {
        name: [message]
        for name, (pattern, message) in BROWSE_FORMATS.items()
        if (value := query.get(name)) is not None and not re.fullmatch(pattern, value)
    }
    form = ListingBrowseForm(query)
    if errors or not form.is_valid():  # field: [messages], as every other 400 of the API
        form_errors = form.errors.get_json_data()
        form_messages = {f: [e["message"] for e in errs] for f, errs in form_errors.items()}
        raise ValidationError(form_messages | errors)
    return form.filters()


class ListingListApi(APIView):
    permission_classes = [permissions.IsAuthenticatedOrReadOnly]
    pagination_class = PageNumberPagination  # documents the page and its parameters

    @extend_schema(
        parameters=BROWSE_PARAMETERS,
        responses={200: ListingSerializer(many=True), **error_responses(400, 401, 404)},
    )
    def get(self, request: Request) -> Response:
        filters = _browse_filters(request.query_params)
        listings = selectors.listing_browse(viewer=request.user, filters=filters)
        return public_response(
            request, paginated_response(request, self, listings, ListingSerializer)
        )

    @extend_schema(
        request=ListingCreateSerializer,
        responses={201: ListingSerializer, **error_responses(400, 401, 403, 415)},
    )
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

    @extend_schema(responses={200: ListingSerializer, **error_responses(401, 404)})
    def get(self, request: Request, listing_id: int) -> Response:
        listing = selectors.listing_get_visible(viewer=request.user, listing_id=listing_id)
        return public_response(request, Response(ListingSerializer(listing).data))

    @extend_schema(
        request=ListingUpdateSerializer,
        responses={200: ListingSerializer, **error_responses(400, 401, 403, 404, 409, 415)},
    )
    def patch(self, request: Request, listing_id: int) -> Response:
        changes = validated(ListingUpdateSerializer, request)
        services.listing_update(
            seller=request_user(request), listing_id=listing_id, changes=changes
        )
        listing = selectors.listing_get_visible(viewer=request.user, listing_id=listing_id)
        return Response(ListingSerializer(listing).data)


class PoolSecretsApi(APIView):
    @extend_schema(
        request=PoolSecretsSerializer,
        responses={201: ListingSerializer, **error_responses(400, 401, 403, 404, 409, 415)},
    )
    def post(self, request: Request, listing_id: int) -> Response:
        data = validated(PoolSecretsSerializer, request)
        services.pool_secrets_add(
            seller=request_user(request), listing_id=listing_id, secrets=data["secrets"]
        )
        listing = selectors.listing_get_visible(viewer=request.user, listing_id=listing_id)
        return Response(ListingSerializer(listing).data, status=status.HTTP_201_CREATED)

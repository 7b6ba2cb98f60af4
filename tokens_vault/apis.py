"""Token endpoints: my tokens with their secrets (each reveal audited), revoke."""

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.current_user import request_user
from core.api import error_responses
from core.pagination import PageNumberPagination
from core.request_origin import request_origin
from tokens_vault import selectors, services
from tokens_vault.models import Token


class TokenSerializer(serializers.ModelSerializer[Token]):
    order_id = serializers.IntegerField()
    listing_id = serializers.IntegerField(source="order.listing_id")
    service_name = serializers.CharField(source="order.listing.service_name")
    endpoint_url = serializers.CharField(source="order.listing.endpoint_url")
    status = serializers.SerializerMethodField()
    secret = serializers.SerializerMethodField()

    class Meta:
        model = Token
        fields = [
            "id",
            "order_id",
            "listing_id",
            "service_name",
            "endpoint_url",
            "status",
            "secret",
            "created_at",
            "revoked_at",
        ]

    def get_status(self, token: Token) -> str:
        return "live" if token.is_live else "revoked"

    def get_secret(self, token: Token) -> str | None:
        """The plaintext, only for a live token revealed (and audited) by the view."""
        revealed: dict[int, str | None] = self.context.get("revealed", {})
        return revealed.get(token.pk)


def _revealed_response(request: Request, tokens: list[Token]) -> Any:
    revealed = services.tokens_reveal(
        tokens=tokens, actor=request_user(request), origin=request_origin(request)
    )
    return TokenSerializer(tokens, many=True, context={"revealed": revealed}).data


class TokenListApi(APIView):
    pagination_class = PageNumberPagination  # documents the page and its parameters

    @extend_schema(responses={200: TokenSerializer(many=True), **error_responses(400, 401, 404)})
    def get(self, request: Request) -> Response:
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(
            selectors.token_list_for_owner(owner=request_user(request)), request, view=self
        )
        return paginator.get_paginated_response(_revealed_response(request, list(page or [])))


class TokenDetailApi(APIView):
    @extend_schema(responses={200: TokenSerializer, **error_responses(401, 404)})
    def get(self, request: Request, token_id: int) -> Response:
        token = selectors.token_get_for_owner(owner=request_user(request), token_id=token_id)
        return Response(_revealed_response(request, [token])[0])


class TokenRevokeApi(APIView):
    @extend_schema(request=None, responses={200: TokenSerializer, **error_responses(401, 403, 404)})
    def post(self, request: Request, token_id: int) -> Response:
        token = services.token_revoke(
            token_id=token_id, actor=request_user(request), origin=request_origin(request)
        )
        # Whoever revokes sees the token without its secret (sellers are not its owner).
        return Response(TokenSerializer(token).data)

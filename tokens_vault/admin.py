"""Operators see tokens with their secrets masked (last 4 characters) and may revoke them."""

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from accounts.current_user import operator
from audit.admin_tools import OperatorAdmin, apply_to_each
from core.request_origin import request_origin
from tokens_vault.crypto import VaultDecryptError
from tokens_vault.models import Token
from tokens_vault.services import secret_masked, token_revoke

TOKEN_FIELDS = (
    "owner",
    "order",
    "listing",
    "masked_secret",
    "exclusive",
    "created_at",
    "revoked_at",
    "revoked_by",
)


@admin.register(Token)
class TokenAdmin(OperatorAdmin):
    list_display = [
        "id", "owner", "order", "listing", "masked_secret", "exclusive", "created_at", "revoked_at"
    ]  # fmt: skip
    list_filter = [("revoked_at", admin.EmptyFieldListFilter), "exclusive"]
    list_select_related = ["owner", "order__listing", "secret"]
    search_fields = ["=id", "=order__id", "owner__email"]
    search_help_text = "Search by token id, order id or owner email."
    ordering = ["-id"]
    fields = readonly_fields = TOKEN_FIELDS
    actions = ["revoke"]

    @admin.display(description="listing")
    def listing(self, token: Token) -> Any:
        return token.order.listing

    @admin.display(description="secret")
    def masked_secret(self, token: Token) -> str:
        try:
            return secret_masked(token.secret)
        except VaultDecryptError:
            return "(cannot be decrypted)"

    def has_revoke_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("tokens_vault.revoke_token")

    @admin.action(permissions=["revoke"], description="Revoke selected tokens")
    def revoke(self, request: HttpRequest, queryset: QuerySet[Token]) -> None:
        def act(token: Token) -> bool:
            if token.revoked_at is not None:
                return False
            token_revoke(token_id=token.pk, actor=operator(request), origin=request_origin(request))
            return True

        apply_to_each(request, queryset, act, done="revoked")

"""Reads of tokens, scoped to their owner."""

from django.db.models import QuerySet

from accounts.models import User
from core.errors import NotFound
from tokens_vault.models import Token

# What the token list (page and API) shows of a token, and what revealing it needs. Loading
# every column of the token, its secret, order and listing costs a page a good share of its
# CPU (docs/benchmarks.md); the listing's description alone is the widest.
# A field left out here is still loaded on use, one query per token, which the tests on the
# number of queries would catch.
TOKEN_LIST_FIELDS = (
    "owner_id",
    "order_id",
    "created_at",
    "revoked_at",
    "secret__key_id",
    "secret__nonce",
    "secret__ciphertext",
    "order__listing__service_name",
    "order__listing__endpoint_url",
)


def token_list_for_owner(*, owner: User) -> QuerySet[Token]:
    return (
        Token.objects.filter(owner=owner)
        .select_related("secret", "order__listing")
        .only(*TOKEN_LIST_FIELDS)
        .order_by("-id")
    )


def token_get_for_owner(*, owner: User, token_id: int) -> Token:
    token = token_list_for_owner(owner=owner).filter(pk=token_id).first()
    if token is None:
        raise NotFound("No such token.")
    return token

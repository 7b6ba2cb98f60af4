"""Reads of tokens, scoped to their owner."""

from django.db.models import QuerySet

from accounts.models import User
from marketplace.errors import NotFound
from tokens_vault.models import Token


def token_list_for_owner(*, owner: User) -> QuerySet[Token]:
    return (
        Token.objects.filter(owner=owner).select_related("secret", "order__listing").order_by("-id")
    )


def token_get_for_owner(*, owner: User, token_id: int) -> Token:
    token = token_list_for_owner(owner=owner).filter(pk=token_id).first()
    if token is None:
        raise NotFound("No such token.")
    return token

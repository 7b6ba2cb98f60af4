"""Token pages: the buyer's tokens with reveal and copy per token; the seller's revoke."""

from dataclasses import dataclass

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.cache import add_never_cache_headers
from django.views.decorators.http import require_GET, require_POST

from accounts.current_user import page_user
from accounts.models import User
from core.errors import Forbidden, NotFound
from core.pages import safe_next
from core.request_origin import request_origin
from tokens_vault import selectors, services
from tokens_vault.models import Token

TOKENS_PAGE_SIZE = 20


@dataclass(frozen=True)
class TokenRow:
    token: Token
    secret: str | None = None  # the plaintext, only for the token just revealed


def _tokens_page(
    request: HttpRequest,
    owner: User,
    page_number: int | str | None,
    revealed: dict[int, str] | None = None,
    *,
    status: int = 200,
) -> HttpResponse:
    tokens = selectors.token_list_for_owner(owner=owner)
    page = Paginator(tokens, TOKENS_PAGE_SIZE).get_page(page_number)
    rows = [TokenRow(token, (revealed or {}).get(token.pk)) for token in page]
    context = {"page": page, "rows": rows}
    return render(request, "tokens_vault/my_tokens.html", context, status=status)


@login_required
@require_GET
def my_tokens(request: HttpRequest) -> HttpResponse:
    """The buyer's tokens without their secrets: a GET (a reload, a prefetch, a shared link)
    never decrypts anything or writes an audit row; revealing is a POST per token."""
    return _tokens_page(request, page_user(request), request.GET.get("page"))


@require_POST
def token_reveal(request: HttpRequest, token_id: int) -> HttpResponse:
    """Reveal one token's secret through tokens_reveal (the API's path, audited with where the
    request came from) and answer with the tokens page showing it, never cached.

    The page rendered is the one holding that token, found by its position, so the secret
    appears in its row even if newer tokens have arrived since the buyer loaded the list.
    """
    owner = request.user
    if not isinstance(owner, User):
        return redirect_to_login(reverse("my-tokens"))
    try:
        token = selectors.token_get_for_owner(owner=owner, token_id=token_id)
    except NotFound as exc:
        raise Http404(exc.message) from exc
    newer = selectors.token_list_for_owner(owner=owner).filter(pk__gt=token.pk).count()
    page_number = newer // TOKENS_PAGE_SIZE + 1
    secret = services.tokens_reveal(tokens=[token], actor=owner, origin=request_origin(request))[
        token.pk
    ]
    if secret is None:
        if token.is_live:  # the vault could not authenticate the ciphertext (logged)
            messages.error(request, f"The secret of token #{token.pk} could not be read.")
            return _tokens_page(request, owner, page_number, status=500)
        messages.error(
            request, f"Token #{token.pk} was revoked: its secret can no longer be revealed."
        )
        return _tokens_page(request, owner, page_number, status=409)
    response = _tokens_page(request, owner, page_number, {token.pk: secret})
    add_never_cache_headers(response)
    return response


@login_required
@require_POST
def token_revoke(request: HttpRequest, token_id: int) -> HttpResponse:
    """The seller of the token's listing (or an operator) revokes it from the sales page;
    its buyer can no longer reveal the secret. Others get what the API gives: 403 for the
    token's own buyer, 404 for anyone else."""
    actor = request.user
    if not isinstance(actor, User):
        raise PermissionDenied
    try:
        token = services.token_revoke(
            token_id=token_id, actor=actor, origin=request_origin(request)
        )
    except Forbidden as exc:
        raise PermissionDenied(exc.message) from exc
    except NotFound as exc:
        raise Http404(exc.message) from exc
    messages.success(
        request,
        f"Token #{token.pk} of order #{token.order_id} is revoked: its buyer can no "
        "longer reveal the secret.",
    )
    return redirect(safe_next(request, "sell-sales"))

"""Routes of `/api/v1/`, without trailing slashes (as the SPEC spells them)."""

from typing import Any

from django.conf import settings
from django.urls import path, re_path
from django.utils.csp import CSP
from django.views.decorators.csp import csp_override
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from accounts import apis as accounts
from core.api import not_found
from listings import apis as listings
from orders import apis as orders
from tokens_vault import apis as tokens

DOCS_CSP: dict[str, Any] = {**settings.SECURE_CSP, "style-src": [CSP.SELF, CSP.UNSAFE_INLINE]}

urlpatterns = [
    path("auth/register", accounts.RegisterApi.as_view(), name="auth-register"),
    path("auth/login", accounts.LoginApi.as_view(), name="auth-login"),
    path("auth/logout", accounts.LogoutApi.as_view(), name="auth-logout"),
    path("auth/me", accounts.MeApi.as_view(), name="auth-me"),
    path("auth/password", accounts.PasswordChangeApi.as_view(), name="auth-password"),
    path("auth/verify-email", accounts.AddressCheckSendApi.as_view(), name="auth-verify-email"),
    path(
        "auth/verify-email/confirm",
        accounts.AddressCheckConfirmApi.as_view(),
        name="auth-verify-email-confirm",
    ),
    path(
        "auth/password-reset",
        accounts.PasswordResetRequestApi.as_view(),
        name="auth-password-reset",
    ),
    path(
        "auth/password-reset/confirm",
        accounts.PasswordResetConfirmApi.as_view(),
        name="auth-password-reset-confirm",
    ),
    path("auth/sessions", accounts.SessionListApi.as_view(), name="auth-sessions"),
    path(
        "auth/sessions/<int:session_id>",
        accounts.SessionRevokeApi.as_view(),
        name="auth-session-revoke",
    ),
    path("listings", listings.ListingListApi.as_view(), name="listings"),
    path("listings/<int:listing_id>", listings.ListingDetailApi.as_view(), name="listing"),
    path(
        "listings/<int:listing_id>/secrets",
        listings.PoolSecretsApi.as_view(),
        name="listing-secrets",
    ),
    path("orders", orders.OrderListApi.as_view(), name="orders"),
    path("orders/<int:order_id>", orders.OrderDetailApi.as_view(), name="order"),
    path("orders/<int:order_id>/cancel", orders.OrderCancelApi.as_view(), name="order-cancel"),
    path("orders/<int:order_id>/refund", orders.OrderRefundApi.as_view(), name="order-refund"),
    path(
        "payments/stripe/webhook",
        orders.StripeWebhookApi.as_view(),
        name="stripe-webhook",
    ),
    path("sales", orders.SaleListApi.as_view(), name="sales"),
    path("tokens", tokens.TokenListApi.as_view(), name="tokens"),
    path("tokens/<int:token_id>", tokens.TokenDetailApi.as_view(), name="token"),
    path("tokens/<int:token_id>/revoke", tokens.TokenRevokeApi.as_view(), name="token-revoke"),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    # The split view serves its start-up script as a file, so scripts stay self-only; Swagger
    # UI sets inline styles as it renders, which this one page alone allows.
    path(
        "docs/",
        csp_override(DOCS_CSP)(SpectacularSwaggerSplitView.as_view(url_name="api:schema")),
        name="docs",
    ),
    # Last: whatever else is asked under /api/v1/ is the API's JSON 404, not the HTML page.
    # `schema` and `docs` without their slash are left out, for APPEND_SLASH to redirect.
    re_path(r"^(?!(?:schema|docs)\Z)", not_found, name="not-found"),
]

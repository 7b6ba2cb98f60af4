"""DRF authentication with Bearer session tokens (the `Authorization` header only)."""

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions
from rest_framework.request import Request

from accounts.models import ApiSession, User
from accounts.services import api_session_authenticate


class BearerSessionAuthentication(authentication.BaseAuthentication):
    """Sessions from `POST /api/v1/auth/login/`; no CSRF, since no cookie is involved."""

    keyword = "Bearer"

    def authenticate(self, request: Request) -> tuple[User, ApiSession] | None:
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower() != self.keyword.lower().encode():
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed("Authorization header must be 'Bearer <token>'.")
        try:
            token = header[1].decode("ascii")
        except UnicodeDecodeError:
            raise exceptions.AuthenticationFailed("Invalid session token.") from None
        session = api_session_authenticate(token)
        if session is None:
            raise exceptions.AuthenticationFailed("Invalid, expired or revoked session token.")
        return session.user, session

    def authenticate_header(self, request: Request) -> str:
        return self.keyword


class BearerSessionScheme(OpenApiAuthenticationExtension):
    target_class = "accounts.authentication.BearerSessionAuthentication"
    name = "bearerSession"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {"type": "http", "scheme": "bearer", "description": "Session token from login"}

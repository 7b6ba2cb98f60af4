"""The signed-in user of a request, typed as our User: for API views that require
authentication, @login_required pages and operators' admin actions."""

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest
from rest_framework import exceptions
from rest_framework.request import Request

from accounts.models import User


def request_user(request: Request) -> User:
    """The signed-in user of a view that requires authentication (IsAuthenticated)."""
    user = request.user
    if not isinstance(user, User):
        raise exceptions.NotAuthenticated()
    return user


def page_user(request: HttpRequest) -> User:
    """The signed-in user of a @login_required page."""
    user = request.user
    if not isinstance(user, User):
        raise PermissionDenied
    return user


def operator(request: HttpRequest) -> User:
    """The signed-in operator of an admin action (the admin lets no one else in)."""
    return page_user(request)

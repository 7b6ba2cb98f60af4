"""Page logins are sessions a user can list and revoke, like Bearer tokens (SPEC §2).

A page login creates a `browser` ApiSession and keeps its id in the browser's Django
session. The middleware checks that row on every request from such a browser (one query by
primary key) and signs the browser out once it is revoked or expired, whoever revoked it:
the account page, `DELETE /api/v1/auth/sessions/<id>`, a password change, a deactivation.

Django sessions without a linked row (the test client's force_login, the admin's own login
view) are left as Django keeps them.
"""

from collections.abc import Callable
from contextlib import suppress
from datetime import datetime

from django.contrib import messages
from django.contrib.auth import SESSION_KEY as AUTH_USER_KEY
from django.contrib.auth import login as auth_login
from django.contrib.auth import logout as auth_logout
from django.http import HttpRequest, HttpResponse

from accounts import services
from accounts.models import User
from core.errors import NotFound
from core.request_origin import client_ip

LINKED_SESSION_KEY = "_agora_session_id"
SIGNED_OUT_MESSAGE = "You were signed out because this session was ended. Please log in again."


def linked_session_id(request: HttpRequest) -> int | None:
    """The id of the ApiSession this browser is signed in with, if any."""
    value = request.session.get(LINKED_SESSION_KEY)
    return value if isinstance(value, int) else None


def _end_linked_session(request: HttpRequest) -> None:
    """Revoke the session this browser is linked to, whoever it belongs to, and unlink it."""
    session_id = request.session.pop(LINKED_SESSION_KEY, None)
    user = request.user
    if isinstance(session_id, int) and isinstance(user, User):
        with suppress(NotFound):  # already gone: nothing to revoke
            services.api_session_revoke(user=user, session_id=session_id)


def _link_new_session(request: HttpRequest, user: User) -> None:
    session = services.browser_session_create(
        user=user, ip=client_ip(request), user_agent=request.META.get("HTTP_USER_AGENT", "")
    )
    request.session[LINKED_SESSION_KEY] = session.pk
    expires_at: datetime = session.expires_at
    request.session.set_expiry(expires_at)  # the cookie ends with the session


def browser_login(request: HttpRequest, user: User) -> None:
    """Sign the browser in (Django's login: a new session key) with a new linked session.

    A session the browser was signed in with before is revoked first, even another user's
    (Django's login forgets it), so no row is left listed as live but used by nobody.
    """
    _end_linked_session(request)
    auth_login(request, user)
    _link_new_session(request, user)


def browser_session_link(request: HttpRequest, user: User) -> None:
    """Give this already signed-in browser a fresh session (after a password change)."""
    _end_linked_session(request)
    _link_new_session(request, user)


def browser_logout(request: HttpRequest) -> None:
    """Revoke this browser's linked session, then end its Django session."""
    _end_linked_session(request)
    auth_logout(request)


class LinkedSessionMiddleware:
    """Signs a browser out once its linked ApiSession is revoked or expired.

    Goes after AuthenticationMiddleware (it replaces request.user) and MessageMiddleware (it
    tells the user why they were signed out).
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        session_id = linked_session_id(request)
        if session_id is not None:
            user_id = request.session.get(AUTH_USER_KEY)
            live = user_id is not None and services.browser_session_check(
                session_id=session_id, user_id=user_id
            )
            if not live:
                auth_logout(request)
                messages.info(request, SIGNED_OUT_MESSAGE)
        return self.get_response(request)

"""Password reset by an emailed one-time link (SPEC §14), for pages and the API alike.

The link's last segment is the reset token: the user's id (base64) and Django's reset token
for it, which is bound to the current password hash and PASSWORD_RESET_TIMEOUT, so it works
once and not for long. Asking never says whether an address has an account.
"""

from django.conf import settings
from django.contrib.auth.tokens import default_token_generator
from django.db import transaction
from django.urls import reverse
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_decode, urlsafe_base64_encode

from accounts.models import User
from accounts.services import api_sessions_revoke_all, password_validate
from core.errors import InvalidInput
from core.jobs import enqueue
from core.log_format import mark_sensitive

RESET_REQUESTED = (
    "If an account uses this address, a link to set a new password is on its way. "
    "It works once, within an hour."
)
INVALID_LINK = "This link is not valid: it has expired or was already used. Ask for a new one."


def password_reset_request(*, email: str) -> None:
    """Mail a reset link to the account at `email`, if there is one (by a job, after the
    commit); the same answer and no error either way."""
    user = User.objects.filter(email__iexact=email.strip(), is_active=True).first()
    if user is not None:
        enqueue("accounts.jobs.password_reset_mail", user.pk)


def password_reset_token(user: User) -> str:
    return (
        f"{urlsafe_base64_encode(force_bytes(user.pk))}.{default_token_generator.make_token(user)}"
    )


def password_reset_link(user: User) -> str:
    path = reverse("password-reset-confirm", kwargs={"token": password_reset_token(user)})
    return settings.SITE_URL + path


def password_reset_user(token: str, *, lock: bool = False) -> User | None:
    """The active user a reset token is valid for, if it still is; with `lock` (inside a
    transaction), the user's row is locked before the token is checked against it."""
    mark_sensitive(token)
    encoded_id, _, reset_token = token.partition(".")
    try:
        user_id = int(urlsafe_base64_decode(encoded_id).decode())
    except (ValueError, UnicodeDecodeError):
        return None
    users = User.objects.filter(pk=user_id, is_active=True)
    user = (users.select_for_update() if lock else users).first()
    if user is None or not default_token_generator.check_token(user, reset_token):
        return None
    return user


@transaction.atomic
def password_reset_confirm(*, token: str, new_password: str) -> User:
    """Set the new password and end every session of the account, API and page alike. The
    user's row is locked while the token is checked, so a link used twice at once works once."""
    user = password_reset_user(token, lock=True)
    if user is None:
        raise InvalidInput(INVALID_LINK, field="token")
    password_validate(new_password, user, field="new_password")
    user.set_password(new_password)  # the token no longer matches, and page sessions end
    user.save(update_fields=["password"])
    api_sessions_revoke_all(user=user)
    return user

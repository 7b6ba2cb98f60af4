"""The address check of SPEC §14: sign-up mails a signed link that proves the owner reads the
address. The link carries the account id and the address it was sent to, signed and dated
(django.core.signing), so it works for ADDRESS_CHECK_DAYS and only for that address."""

from datetime import timedelta

from django.conf import settings
from django.core import signing
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from accounts.models import User
from core.errors import InvalidInput
from core.jobs import enqueue

ADDRESS_CHECK_DAYS = 3
SALT = "agora.accounts.address-check"
INVALID_LINK = (
    "This link is not valid: it has expired or is for another address. Ask for a new one."
)
CHECK_SENT = "We mailed you a link to confirm your address. It works for three days."


def address_check_send(user: User) -> None:
    """Mail the link (by a job, after the commit); nothing once the address is verified."""
    if user.email_verified_at is None:
        enqueue("accounts.jobs.address_check_mail", user.pk)


def signup_attempt_notify(user: User) -> None:
    """Tell the owner of an address that someone signed up with it (by a job)."""
    enqueue("accounts.jobs.signup_attempt_mail", user.pk)


def address_check_token(user: User) -> str:
    return signing.dumps([user.pk, user.email], salt=SALT, compress=True)


def address_check_link(user: User) -> str:
    path = reverse("verify-email", kwargs={"token": address_check_token(user)})
    return settings.SITE_URL + path


def address_verify(*, token: str) -> User:
    """Mark the address of the token's account verified (again is fine); a 400 naming the
    token when it is forged, expired or for an address the account no longer has."""
    try:
        user_id, email = signing.loads(token, salt=SALT, max_age=timedelta(days=ADDRESS_CHECK_DAYS))
    except (signing.BadSignature, ValueError, TypeError):
        raise InvalidInput(INVALID_LINK, field="token") from None
    now = timezone.now()
    found = User.objects.filter(pk=user_id, email=email, is_active=True)
    found.filter(Q(email_verified_at__isnull=True)).update(email_verified_at=now)
    user = found.first()
    if user is None:
        raise InvalidInput(INVALID_LINK, field="token")
    return user

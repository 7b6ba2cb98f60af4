"""Account writes: registration, login, API sessions, password changes (operators' acts on
accounts: accounts.moderation)."""

import secrets
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import authenticate, password_validation
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.http import HttpRequest
from django.utils import timezone

from accounts import login_throttle
from accounts.address_check import address_check_send, signup_attempt_notify
from accounts.models import ApiSession, SellerProfile, User, normalize_email
from accounts.session_tokens import SESSION_TOKEN_PREFIX, hash_session_token
from core.errors import DomainError, InvalidInput, NotFound
from core.log_format import mark_sensitive

# Refresh last_used_at at most this often: a write per request would cost more than it tells.
LAST_USED_RESOLUTION = timedelta(minutes=5)
INVALID_CREDENTIALS = "Invalid email or password."
# The one answer to a sign-up, whether the address was free or already had an account.
REGISTRATION_ACCEPTED = (
    "If this address had no account, it has one now: log in with it and the password you "
    "chose. If it already had one, nothing has changed: log in with its own password."
)


class InvalidCredentials(DomainError):
    status_code = 401
    code = "invalid_credentials"


@dataclass(frozen=True)
class IssuedSession:
    """A new session and its token; the token exists only here, shown to the user once."""

    session: ApiSession
    token: str


def password_validate(password: str, user: User | None = None, *, field: str = "password") -> None:
    """Django's password validators, as a 400 naming `field`."""
    mark_sensitive(password)
    try:
        password_validation.validate_password(password, user)
    except ValidationError as exc:
        raise InvalidInput(" ".join(exc.messages), field=field) from None


def user_register(*, email: str, password: str) -> None:
    """Create an account for an address that has none, and tell nobody which it was.

    Registration must not reveal who has an account (issue 14): a taken address raises
    nothing and gets the same answer (REGISTRATION_ACCEPTED), and costs the same, because
    the password is hashed (Argon2, the slow part) before the address is tried. Only input
    refused whoever asks (a weak password, a malformed address) is an error. A new account
    is mailed its address check and the owner of a taken address a notice, so both paths
    also enqueue one mail.
    """
    email = normalize_email(email)
    user = User(email=email)
    password_validate(password, user)
    try:
        user.full_clean(exclude=["password"], validate_unique=False)
    except ValidationError as exc:
        raise InvalidInput(" ".join(exc.messages), field="email") from None
    user.set_password(password)  # before the address is tried: a taken one costs the same
    try:
        with transaction.atomic():
            user.save(force_insert=True)
            address_check_send(user)
    except IntegrityError:
        owner = User.objects.filter(email=email).first()
        if owner is None:
            raise
        # The address has an account: it stays as it was, and the answer is the same.
        signup_attempt_notify(owner)


def api_session_create(
    *, user: User, ip: str | None, user_agent: str, kind: str = ApiSession.Kind.API
) -> IssuedSession:
    token = SESSION_TOKEN_PREFIX + secrets.token_urlsafe(32)
    now = timezone.now()
    session = ApiSession.objects.create(
        user=user,
        kind=kind,
        key_hash=hash_session_token(token),
        expires_at=now + timedelta(days=settings.SESSION_TTL_DAYS),
        # A browser session is used by the very request that signs in; a Bearer token is
        # first used when the client sends it.
        last_used_at=now if kind == ApiSession.Kind.BROWSER else None,
        ip=ip,
        user_agent=user_agent[:200],
    )
    return IssuedSession(session=session, token=token)


def browser_session_create(*, user: User, ip: str | None, user_agent: str) -> ApiSession:
    """The revocable record of a page login (SPEC §2: a user lists and revokes sessions).

    Its token is dropped here, never shown or stored, so the row cannot be used as a Bearer
    token; the browser's Django session keeps the row's id (accounts.middleware).
    """
    issued = api_session_create(
        user=user, ip=ip, user_agent=user_agent, kind=ApiSession.Kind.BROWSER
    )
    return issued.session


def browser_session_check(*, session_id: int, user_id: int | str) -> bool:
    """Whether a browser's linked session is still live: one query by primary key.

    `last_used_at` is refreshed like a Bearer token's, at most every LAST_USED_RESOLUTION,
    so the session list can say when a browser was last seen without a write per request.
    """
    row = (
        ApiSession.objects.filter(pk=session_id, user_id=user_id)
        .values_list("revoked_at", "expires_at", "last_used_at")
        .first()
    )
    if row is None:
        return False
    revoked_at, expires_at, last_used_at = row
    now = timezone.now()
    if revoked_at is not None or expires_at <= now:
        return False
    if last_used_at is None or now - last_used_at > LAST_USED_RESOLUTION:
        ApiSession.objects.filter(pk=session_id).update(last_used_at=now)
    return True


def user_authenticate(
    *, request: HttpRequest | None, email: str, password: str, ip: str | None
) -> User:
    """Check credentials behind the failed-login throttle (shared by API, pages and admin)."""
    email = normalize_email(email)
    mark_sensitive(password)
    attempt = login_throttle.login_attempt_count_or_raise(email=email, ip=ip)
    user = authenticate(request, email=email, password=password)
    if not isinstance(user, User):
        raise InvalidCredentials(INVALID_CREDENTIALS)
    login_throttle.login_attempt_succeeded(attempt)
    return user


def api_login(*, email: str, password: str, ip: str | None, user_agent: str) -> IssuedSession:
    user = user_authenticate(request=None, email=email, password=password, ip=ip)
    return api_session_create(user=user, ip=ip, user_agent=user_agent)


def api_session_authenticate(token: str) -> ApiSession | None:
    """The live session for a raw token, or None (unknown, expired, revoked, inactive user)."""
    if not token.startswith(SESSION_TOKEN_PREFIX):
        return None
    try:
        session = ApiSession.objects.select_related("user").get(key_hash=hash_session_token(token))
    except ApiSession.DoesNotExist:
        return None
    now = timezone.now()
    if not session.is_live(now) or not session.user.is_active:
        return None
    if session.last_used_at is None or now - session.last_used_at > LAST_USED_RESOLUTION:
        ApiSession.objects.filter(pk=session.pk).update(last_used_at=now)
        session.last_used_at = now
    return session


def api_session_revoke(*, user: User, session_id: int) -> None:
    updated = ApiSession.objects.filter(pk=session_id, user=user, revoked_at__isnull=True).update(
        revoked_at=timezone.now()
    )
    if not updated and not ApiSession.objects.filter(pk=session_id, user=user).exists():
        raise NotFound("No such session.")


def api_sessions_revoke_all(*, user: User) -> int:
    return ApiSession.objects.filter(user=user, revoked_at__isnull=True).update(
        revoked_at=timezone.now()
    )


@transaction.atomic
def user_change_password(
    *, user: User, current_password: str, new_password: str, ip: str | None
) -> None:
    """Changing the password ends every session of the user, API and page alike. The current
    password is checked behind the failed-login throttle: a stolen session must not make
    a way to guess it that logins do not allow."""
    mark_sensitive(current_password)
    attempt = login_throttle.login_attempt_count_or_raise(email=user.email, ip=ip)
    if not user.check_password(current_password):
        raise InvalidInput("The current password is not correct.", field="current_password")
    login_throttle.login_attempt_succeeded(attempt)
    password_validate(new_password, user, field="new_password")
    user.set_password(new_password)  # also invalidates page sessions (session auth hash)
    user.save(update_fields=["password"])
    api_sessions_revoke_all(user=user)


def seller_profile_ensure(*, user: User, display_name: str = "") -> SellerProfile:
    """Selling needs only an account: the profile appears with the first listing."""
    default_name = display_name.strip() or f"Seller {user.pk}"
    profile, created = SellerProfile.objects.get_or_create(
        user=user, defaults={"display_name": default_name[:80]}
    )
    if not created and display_name.strip() and profile.display_name != display_name.strip():
        profile.display_name = display_name.strip()[:80]
        profile.save(update_fields=["display_name"])
    return profile

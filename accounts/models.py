"""Users (email is the login), seller profiles, API sessions and the store of cookie sessions."""

from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar

from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.contrib.auth.models import PermissionsMixin
from django.contrib.sessions.base_session import AbstractBaseSession
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone

if TYPE_CHECKING:
    from accounts.session_store import SessionStore


def normalize_email(email: str) -> str:
    """Emails are compared case-insensitively, so they are stored lower-cased."""
    return email.strip().lower()


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    def get_by_natural_key(self, username: str | None) -> "User":
        return self.get(email=normalize_email(username or ""))

    def create_user(self, email: str, password: str | None = None, **extra: Any) -> "User":
        if not email:
            raise ValueError("An email address is required")
        user = self.model(email=normalize_email(email), **extra)
        user.set_password(password)
        user.full_clean(exclude=["password"])
        user.save(using=self._db)
        return user

    def create_superuser(self, email: str, password: str | None = None, **extra: Any) -> "User":
        extra.update(is_staff=True, is_superuser=True)
        return self.create_user(email, password, **extra)


class User(AbstractBaseUser, PermissionsMixin):
    email = models.EmailField(max_length=254, unique=True)
    is_active = models.BooleanField(default=True)
    is_staff = models.BooleanField(default=False)
    date_joined = models.DateTimeField(default=timezone.now)
    # When the owner followed the address-check link mailed at sign-up (accounts.address_check).
    email_verified_at = models.DateTimeField(null=True, blank=True)

    objects: ClassVar[UserManager] = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: ClassVar[list[str]] = []

    class Meta:
        permissions = [("deactivate_user", "Can deactivate and reactivate users")]
        constraints = [
            # Unique already; this makes "stored lower-cased" a database fact, not a habit.
            models.CheckConstraint(
                condition=models.Q(email=Lower("email")), name="user_email_lowercase"
            ),
        ]

    def __str__(self) -> str:
        return self.email

    def clean(self) -> None:
        super().clean()
        self.email = normalize_email(self.email)


class SellerProfile(models.Model):
    """What buyers see of a seller; created with the seller's first listing."""

    user = models.OneToOneField(
        User, on_delete=models.CASCADE, primary_key=True, related_name="seller_profile"
    )
    display_name = models.CharField(max_length=80)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.display_name


class ApiSession(models.Model):
    """A sign-in that can be listed and revoked: only the SHA-256 of its token is stored.

    `api` sessions are Bearer tokens shown once at login. A `browser` session stands for a
    page login: its token is thrown away unseen and the browser's Django session holds the
    row's id instead (accounts.middleware), so both kinds are listed and revoked alike.
    """

    class Kind(models.TextChoices):
        API = "api", "API"
        BROWSER = "browser", "Browser"

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_sessions")
    kind = models.CharField(max_length=8, choices=Kind.choices, default=Kind.API)
    key_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=200, blank=True)

    class Meta:
        indexes = [models.Index(fields=["user", "revoked_at"], name="apisession_user_live_idx")]

    def __str__(self) -> str:
        return f"Session {self.pk} of user {self.user_id}"

    def is_live(self, now: datetime | None = None) -> bool:
        return self.revoked_at is None and self.expires_at > (now or timezone.now())


class CookieSession(AbstractBaseSession):
    """Django's session behind a page or admin cookie, stored under the SHA-256 of the cookie's
    session key (accounts.session_store), never the key itself: a copied row, or a whole
    database dump, names no cookie that would open it. API tokens are stored the same way."""

    session_key = models.CharField("SHA-256 of the session key", max_length=64, primary_key=True)

    @classmethod
    def get_session_store_class(cls) -> "type[SessionStore]":
        from accounts.session_store import SessionStore

        return SessionStore

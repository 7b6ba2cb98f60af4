"""Test data built through the same services the app uses, so invariants hold."""

import functools
from collections.abc import Sequence
from decimal import Decimal

import factory
from django.contrib.auth.hashers import make_password
from django.db.models import QuerySet

from accounts.models import User
from accounts.services import api_session_create
from audit.models import AuditAction, AuditEntry
from listings.models import Listing
from listings.services import ListingDetails, listing_create

PASSWORD = "correct-horse-battery-staple"


@functools.cache
def _password_hash() -> str:
    # Argon2 is slow on purpose; hash the shared test password once per process.
    return make_password(PASSWORD)


class UserFactory(factory.django.DjangoModelFactory[User]):
    class Meta:
        model = User
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"user{n}@example.test")
    password = factory.LazyFunction(_password_hash)


def bearer_token(user: User) -> str:
    """A real API session for `user`, without paying for a password check."""
    return api_session_create(user=user, ip="127.0.0.1", user_agent="pytest").token


def make_listing(
    *,
    seller: User | None = None,
    mode: str = "shared",
    units: int = 10,
    price: str = "1.00",
    secret: str = "shared-secret-value-0001",  # noqa: S107 - a test fixture value
    pool: Sequence[str] | None = None,
    service_name: str = "Weather API",
) -> Listing:
    """A listing created by the listings service (shared by default, pool with `pool`)."""
    if pool is not None:
        mode = "pool"
    return listing_create(
        seller=seller or UserFactory.create(),
        details=ListingDetails(
            service_name=service_name,
            unit_description="per 1000 requests",
            price_per_unit=Decimal(price),
            description=f"{service_name} for tests",
        ),
        delivery_mode=mode,
        shared_secret=secret if mode == "shared" else None,
        units=units if mode == "shared" else None,
        pool_secrets=pool or (),
    )


def reveals() -> QuerySet[AuditEntry]:
    """The audit log's reveal entries, oldest first."""
    return AuditEntry.objects.filter(action=AuditAction.TOKEN_REVEAL).order_by("pk")

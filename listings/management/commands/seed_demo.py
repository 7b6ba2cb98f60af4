"""Seed a small demo marketplace so a newcomer sees live listings at once.

Idempotent: running it again changes nothing. The demo secrets are obviously fake values,
never anything that looks like a live key.
"""

from decimal import Decimal
from typing import Any

from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from accounts.models import User
from accounts.moderation import user_set_moderator
from accounts.services import seller_profile_ensure
from listings.models import Listing
from listings.services import ListingDetails, listing_create

DEMO_PASSWORD = "agora-demo-password"  # noqa: S105 - demo accounts on a local dev database

SELLERS = [
    ("weather@demo.agora.test", "Open Skies Weather"),
    ("geo@demo.agora.test", "Atlas Geocoding"),
    ("fx@demo.agora.test", "Ledger FX Rates"),
]
BUYER = "buyer@demo.agora.test"
OPERATOR = "admin@demo.agora.test"  # a superuser, for /admin/
MODERATOR = "moderator@demo.agora.test"


def _listings() -> list[dict[str, Any]]:
    return [
        {
            "seller": 0,
            "details": ListingDetails(
                service_name="Hourly forecast API",
                description="48-hour forecasts for any coordinate, refreshed every 10 minutes.",
                unit_description="per 1,000 requests",
                price_per_unit=Decimal("0.50"),
                endpoint_url="https://weather.demo.agora.test/v1",
            ),
            "mode": "shared",
            "secret": "demo-weather-shared-credential",
            "units": 500,
        },
        {
            "seller": 0,
            "details": ListingDetails(
                service_name="Historical climate dataset",
                description="Daily observations from 9,000 stations since 1950, as Parquet.",
                unit_description="per dataset licence",
                price_per_unit=Decimal("4.00"),
            ),
            "mode": "pool",
            "secrets": [f"demo-climate-licence-{n:04d}" for n in range(1, 21)],
        },
        {
            "seller": 1,
            "details": ListingDetails(
                service_name="Forward geocoding",
                description="Addresses to coordinates, worldwide, with confidence scores.",
                unit_description="per 1,000 lookups",
                price_per_unit=Decimal("1.25"),
                endpoint_url="https://geo.demo.agora.test/geocode",
            ),
            "mode": "shared",
            "secret": "demo-geocoding-shared-credential",
            "units": 200,
        },
        {
            "seller": 1,
            "details": ListingDetails(
                service_name="Dedicated routing key",
                description="A personal API key for the routing engine, one per buyer.",
                unit_description="per key, 30 days",
                price_per_unit=Decimal("3.00"),
            ),
            "mode": "pool",
            "secrets": [f"demo-routing-key-{n:04d}" for n in range(1, 11)],
        },
        {
            "seller": 2,
            "details": ListingDetails(
                service_name="End-of-day FX rates",
                description="170 currencies against USD, EUR and GBP, published at 17:00 UTC.",
                unit_description="per month of access",
                price_per_unit=Decimal("2.00"),
                currency="EUR",
            ),
            "mode": "shared",
            "secret": "demo-fx-shared-credential",
            "units": 1,
        },
    ]


class Command(BaseCommand):
    help = "Create demo sellers, listings (shared and pool), a buyer and operators, unless present."

    @transaction.atomic
    def handle(self, *args: Any, **options: Any) -> None:
        if Listing.objects.filter(seller__email=SELLERS[0][0]).exists():
            self.stdout.write("Demo data already present.")
            return
        sellers = []
        for email, name in SELLERS:
            user = User.objects.create_user(email=email, password=DEMO_PASSWORD)
            seller_profile_ensure(user=user, display_name=name)
            sellers.append(user)
        User.objects.create_user(email=BUYER, password=DEMO_PASSWORD)
        operator = User.objects.create_superuser(email=OPERATOR, password=DEMO_PASSWORD)
        moderator = User.objects.create_user(email=MODERATOR, password=DEMO_PASSWORD)
        user_set_moderator(user_id=moderator.pk, moderator=True, actor=operator, origin=None)
        # Demo addresses receive no mail: they count as confirmed.
        demo = [email for email, _ in SELLERS] + [BUYER, OPERATOR, MODERATOR]
        User.objects.filter(email__in=demo).update(email_verified_at=timezone.now())
        for spec in _listings():
            listing_create(
                seller=sellers[spec["seller"]],
                details=spec["details"],
                delivery_mode=spec["mode"],
                shared_secret=spec.get("secret"),
                units=spec.get("units"),
                pool_secrets=spec.get("secrets", ()),
            )
        self.stdout.write(
            f"Demo marketplace ready: buyer {BUYER}, sellers {', '.join(e for e, _ in SELLERS)}, "
            f"operators {OPERATOR} and {MODERATOR} (/admin/); password for all: {DEMO_PASSWORD}"
        )

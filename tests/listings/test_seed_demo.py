"""`make run` seeds a demo marketplace once: sellers, listings, a buyer and two operators."""

import pytest
from django.core.management import call_command
from django.test import Client

from accounts.models import User
from listings.management.commands.seed_demo import DEMO_PASSWORD, MODERATOR, OPERATOR
from listings.models import Listing

pytestmark = pytest.mark.django_db


def test_seeding_twice_seeds_once_and_the_operators_can_open_the_admin() -> None:
    call_command("seed_demo", verbosity=0)
    call_command("seed_demo", verbosity=0)

    assert Listing.objects.count() == 5
    assert User.objects.count() == 6
    for email in (OPERATOR, MODERATOR):
        client = Client()
        client.post("/admin/login/", {"username": email, "password": DEMO_PASSWORD})
        assert client.get("/admin/listings/listing/").status_code == 200
    assert not User.objects.get(email=MODERATOR).is_superuser

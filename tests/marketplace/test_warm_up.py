"""marketplace.warm_up: gunicorn's master runs read-only requests through the app before the
first fork, so workers start warm; it must change nothing and never stop the server."""

from typing import Any

import pytest
from django.core.wsgi import get_wsgi_application

from accounts.models import ApiSession
from audit.models import AuditEntry
from marketplace.warm_up import warm_up
from orders.models import Order
from tests.factories import make_listing

pytestmark = pytest.mark.django_db


def _counts() -> list[int]:
    return [model.objects.count() for model in (Order, AuditEntry, ApiSession)]


# Autocommit, as in gunicorn's master: inside a test's transaction, Django's request_started
# handler would close the connection under the warm-up's own requests.
@pytest.mark.django_db(transaction=True)
def test_the_warm_up_reads_the_api_and_writes_nothing() -> None:
    make_listing()
    before = _counts()

    statuses = warm_up(get_wsgi_application())

    assert statuses == ["200 OK", "200 OK", "401 Unauthorized", "401 Unauthorized"]
    assert _counts() == before


def test_a_failing_app_does_not_stop_the_warm_up_from_returning() -> None:
    def broken(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        raise ConnectionError("no database yet")

    assert warm_up(broken) == []

"""§10: /healthz says the process is up; /readyz says whether the database answers."""

from collections.abc import Iterator

import pytest
from django.db import connection
from django.test import Client


def test_healthz_answers_without_touching_the_database() -> None:
    response = Client().get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@pytest.mark.django_db
def test_readyz_is_ok_when_the_database_answers() -> None:
    response = Client().get("/readyz")
    assert response.status_code == 200
    assert response.json()["database"] == "up"


@pytest.fixture
def unreachable_database(require_postgres: None) -> Iterator[None]:
    """Point the live connection at a port where no database listens, then put it back.

    PostgreSQL only: the suite's in-memory SQLite database would vanish if disconnected.
    """
    original = dict(connection.settings_dict)
    connection.close()
    connection.settings_dict["PORT"] = "1"  # nothing listens there
    try:
        yield
    finally:
        connection.close()
        connection.settings_dict.clear()
        connection.settings_dict.update(original)


@pytest.mark.django_db(transaction=True)
def test_readyz_is_503_when_the_database_is_down(unreachable_database: None) -> None:
    response = Client().get("/readyz")
    assert response.status_code == 503
    assert response.json()["database"] == "down"

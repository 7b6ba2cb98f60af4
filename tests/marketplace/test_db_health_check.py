"""A persistent connection that died while idle (a database restart, a proxy's idle timeout)
is replaced before a request uses it (CONN_HEALTH_CHECKS), instead of failing the request."""

from collections.abc import Iterator

import psycopg
import pytest
from django.db import connection

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("require_postgres")]


@pytest.fixture
def pings(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[bool]]:
    """Each health check's answer, in order."""
    answers: list[bool] = []
    is_usable = connection.is_usable

    def counted() -> bool:
        answers.append(is_usable())
        return answers[-1]

    monkeypatch.setattr(connection, "is_usable", counted)
    yield answers
    connection.close()


def _query() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        return cursor.fetchone()[0]


def _next_request() -> None:
    """What Django does between requests (the request_started/finished signals)."""
    connection.close_if_unusable_or_obsolete()


def test_a_connection_that_died_while_idle_is_replaced(pings: list[bool]) -> None:
    _query()
    backend_pid = connection.connection.info.backend_pid
    db = connection.settings_dict
    with psycopg.connect(
        host=db["HOST"], port=db["PORT"], user=db["USER"], dbname=db["NAME"], autocommit=True
    ) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", [backend_pid])

    _next_request()

    assert _query() == 1  # no error: the dead connection was found and replaced
    assert pings == [False]
    assert connection.connection.info.backend_pid != backend_pid


def test_a_connection_known_to_be_closed_is_replaced(
    pings: list[bool],
) -> None:
    _query()
    connection.connection.close()  # as psycopg does after the server went away

    _next_request()

    assert _query() == 1
    assert pings == [False]

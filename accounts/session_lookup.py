"""The Bearer session lookup every API request makes, compiled once per connection.

Through the ORM, `ApiSession.objects.select_related("user").filter(key_hash=…).first()` cost
0.37 ms of CPU per request, a fifth of a whole purchase then: Django compiles the query anew
every time. Here the ORM compiles it once; each request runs that SQL with its own key hash
and loads the row as the ORM would (the backend's converters, then `Model.from_db`):
0.07 ms. It leans on the SQL compiler's `select`, `klass_info` and converters,
which model iteration itself uses; tests/accounts/test_session_lookup.py checks the result
against the plain ORM query on every backend the suite runs on.
"""

import functools
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Model
from django.db.models.sql.compiler import SQLCompiler

from accounts.models import ApiSession, User


@dataclass(frozen=True)
class _Plan:
    compiler: SQLCompiler
    sql: str
    converters: dict[int, Any]
    session: tuple[list[int], list[str]]  # the row's positions of each model, and its fields
    user: tuple[list[int], list[str]]


def api_session_with_user(key_hash: str) -> ApiSession | None:
    """The session stored under `key_hash`, live or not, with its user loaded."""
    wrapper = connections[DEFAULT_DB_ALIAS]
    plan = _plan(wrapper)
    with wrapper.cursor() as cursor:
        cursor.execute(plan.sql, [key_hash])
        row = cursor.fetchone()
    if row is None:
        return None
    if plan.converters:
        row = next(iter(plan.compiler.apply_converters([row], plan.converters)))
    session = _loaded(ApiSession, plan.session, row)
    session.user = _loaded(User, plan.user, row)
    return session


@functools.cache
def _plan(wrapper: BaseDatabaseWrapper) -> _Plan:
    """Compiled for one connection (each thread has its own), whose converters it keeps."""
    query = ApiSession.objects.select_related("user").filter(key_hash="").query
    compiler = query.get_compiler(connection=wrapper)
    sql, params = compiler.as_sql()
    selected = [column for column, _, _ in compiler.select]
    info = compiler.klass_info
    if list(params) != [""] or info is None:
        raise ImproperlyConfigured("the session lookup must select both models by one key")

    def part(positions: list[int]) -> tuple[list[int], list[str]]:
        return positions, [selected[i].target.attname for i in positions]

    return _Plan(
        compiler=compiler,
        sql=sql,
        converters=compiler.get_converters(selected),
        session=part(info["select_fields"]),
        user=part(info["related_klass_infos"][0]["select_fields"]),
    )


def _loaded[M: Model](model: type[M], part: tuple[list[int], list[str]], row: Any) -> M:
    positions, names = part
    return model.from_db(DEFAULT_DB_ALIAS, names, [row[i] for i in positions])

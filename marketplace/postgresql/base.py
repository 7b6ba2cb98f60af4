"""Django's PostgreSQL backend, with a health check that skips connections in steady use.

CONN_HEALTH_CHECKS sends `SELECT 1` before the first query of every request, so a persistent
connection that died while idle (a database restart, a proxy's idle timeout) is replaced
instead of failing the request. Under load that round trip cost 12% of purchase throughput
(docs/benchmarks.md), and it only ever finds a connection dead after it sat idle. So the
check is skipped when the connection opened a cursor less than RECENTLY_USED_SECONDS ago;
after any error Django itself still tests the connection when the request ends
(`close_if_unusable_or_obsolete`). What is left is a connection killed within that second
of its last use: the request on it fails as it would without health checks.
"""

import time
from typing import Any

from django.db.backends.postgresql import base

RECENTLY_USED_SECONDS = 1.0


class DatabaseWrapper(base.DatabaseWrapper):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.cursor_opened_at: float | None = None

    def create_cursor(self, name: Any = None) -> Any:
        self.cursor_opened_at = time.monotonic()
        return super().create_cursor(name)

    def close_if_health_check_failed(self) -> None:
        opened = self.cursor_opened_at
        recent = opened is not None and time.monotonic() - opened < RECENTLY_USED_SECONDS
        # A connection psycopg already knows is closed or broken is checked (and replaced)
        # whenever it was last used: that costs an attribute read, not a round trip.
        live = self.connection is not None and not (
            self.connection.closed or self.connection.broken
        )
        if recent and live:
            self.health_check_done = True
            return
        super().close_if_health_check_failed()

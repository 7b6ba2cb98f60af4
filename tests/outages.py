"""Faults the tests inject into the app's own dependencies."""

import io
import logging
from collections.abc import Iterator
from contextlib import contextmanager

from django.db import connection

from core.log_format import JsonFormatter


@contextmanager
def database_down() -> Iterator[None]:
    """Point the live connection at a port where no database listens, then put it back.

    PostgreSQL only: the suite's in-memory SQLite database would vanish if disconnected."""
    original = dict(connection.settings_dict)
    connection.close()
    connection.settings_dict["PORT"] = "1"  # nothing listens there
    try:
        yield
    finally:
        connection.close()
        connection.settings_dict.clear()
        connection.settings_dict.update(original)


@contextmanager
def logged_through_the_configured_handler(*loud: str) -> Iterator[io.StringIO]:
    """What is logged meanwhile, as the JSON handler settings configure writes it (its
    formatter and its redaction filters), with the loggers named in `loud` at DEBUG."""
    stream = io.StringIO()
    [configured] = [
        h for h in logging.getLogger().handlers if isinstance(h.formatter, JsonFormatter)
    ]
    handler = logging.StreamHandler(stream)
    handler.setFormatter(configured.formatter)
    for log_filter in configured.filters:
        handler.addFilter(log_filter)
    loggers = [logging.getLogger(name) for name in loud]
    levels = [logger.level for logger in loggers]
    root = logging.getLogger()
    root.addHandler(handler)
    for logger in loggers:
        logger.setLevel(logging.DEBUG)
    try:
        yield stream
    finally:
        root.removeHandler(handler)
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)

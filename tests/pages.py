"""Small steps the page tests share (the Django test client, not a browser)."""

import re

from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext


def queries_for(client: Client, url: str) -> int:
    """How many queries rendering `url` takes (the page must render)."""
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200, response.content
    return len(queries)


def input_value(page: str, name: str) -> str:
    """The value of the form input `name` in the page (the first one)."""
    tag = re.search(rf'<input[^>]*name="{re.escape(name)}"[^>]*>', page)
    assert tag is not None, f"no input {name!r} in the page"
    value = re.search(r'value="([^"]*)"', tag.group(0))
    assert value is not None, f"input {name!r} has no value"
    return value.group(1)

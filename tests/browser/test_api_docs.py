"""§7/§8: the API docs page renders in a real browser under our strict CSP, offline."""

import pytest
from playwright.sync_api import ConsoleMessage, Page, expect

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("sqlite_pass_only"),
]


def test_swagger_ui_renders_without_csp_violations(page: Page, site: str) -> None:
    console: list[str] = []
    page.on("console", lambda message: console.append(message.text) if _is_error(message) else None)

    page.goto(f"{site}/api/v1/docs/")

    expect(page.locator(".swagger-ui .info .title")).to_contain_text("Agora API")
    assert not [line for line in console if "Content Security Policy" in line], console


def _is_error(message: ConsoleMessage) -> bool:
    return message.type == "error"

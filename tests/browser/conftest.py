"""Browser tests: an installed Chromium driven by Playwright against pytest-django's live
server.

The tests never download a browser: they use the one tests/browser/chromium.py finds (CI
installs Debian's). Without one they skip, or fail under REQUIRE_BROWSER=1 (.ci/run).
Screenshots of the main pages go to docs/screenshots/ when AGORA_SCREENSHOTS=1.
"""

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page

from tests.browser.chromium import installed_chromium

SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    chromium = installed_chromium()
    if chromium is None:
        message = "no Chromium installed (apt-get install chromium, or make browser)"
        if os.environ.get("REQUIRE_BROWSER") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return {
        **browser_type_launch_args,
        "executable_path": str(chromium),
        "headless": True,
        "args": [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
        ],
    }


@pytest.fixture
def site(live_server: Any, settings: Any) -> Iterator[str]:
    """The live server's address, also as SITE_URL so checkout links point back at it."""
    settings.SITE_URL = live_server.url
    yield live_server.url


@pytest.fixture
def screenshot(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    """Save a full-page screenshot of `page` (the test's own page by default); into
    docs/screenshots/ when AGORA_SCREENSHOTS=1, else a temporary folder."""
    folder = SCREENSHOTS if os.environ.get("AGORA_SCREENSHOTS") == "1" else tmp_path

    def take(name: str, page: Page | None = None) -> Path:
        page = page or request.getfixturevalue("page")
        path = folder / f"{name}.png"
        page.set_viewport_size({"width": 1200, "height": 800})
        page.screenshot(path=str(path), full_page=True)
        return path

    return take

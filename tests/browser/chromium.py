"""Which Chromium the browser tests drive: `CHROMIUM` if set, else the system's (Debian's
`chromium` and the usual other names), else the one Playwright downloaded, else none.

`python -m tests.browser.chromium` prints the one it finds (exit 1 when there is none), so
`make test` can decide whether to try Playwright's download before the tests run.
"""

import os
import shutil
import sys
from pathlib import Path

SYSTEM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def installed_chromium() -> Path | None:
    chosen = os.environ.get("CHROMIUM")
    if chosen:
        return Path(chosen) if Path(chosen).is_file() else None
    for name in SYSTEM_NAMES:
        if found := shutil.which(name):
            return Path(found)
    return playwright_chromium()


def playwright_chromium() -> Path | None:
    """The browser `playwright install chromium` put on this machine, if it did."""
    from playwright.sync_api import Error, sync_playwright

    try:
        with sync_playwright() as playwright:
            path = Path(playwright.chromium.executable_path)
    except Error:
        return None
    return path if path.is_file() else None


if __name__ == "__main__":
    found = installed_chromium()
    print(found or "no Chromium found", file=sys.stdout if found else sys.stderr)
    sys.exit(0 if found else 1)

"""The Redis database a test process may clear: tests flush it, and pytest-xdist runs several
test processes at once, so each gets its own (worker gwN: database N + 1; a serial run: 1)."""

import os


def redis_test_url() -> str:
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw")
    return f"redis://127.0.0.1:6379/{int(worker) % 15 + 1}"

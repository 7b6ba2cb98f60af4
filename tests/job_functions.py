"""Jobs for the job engine's tests, run by real worker processes: each leaves a line in a file
the test reads, so what ran, and how often, shows from outside the worker."""

import time
from pathlib import Path


def note(path: str, text: str) -> None:
    with Path(path).open("a") as file:
        file.write(text + "\n")


def note_slowly(path: str, text: str, seconds: float) -> None:
    """`started`, a pause (a worker killed in it dies mid-job), then `done`."""
    note(path, f"{text} started")
    time.sleep(seconds)
    note(path, f"{text} done")


def fail(path: str) -> None:
    note(path, "failed")
    raise RuntimeError("this job always fails")

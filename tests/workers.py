"""Job workers for the tests: real ones (`manage.py qcluster`) on the suite's database, and
the queue run in the test's own process where the worker is not what is tested."""

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from django.db import connection
from django_q.models import OrmQ

from core.jobs import run
from tests.manage_process import REPO_ROOT, child_environment


def worker_environment(**extra: str) -> dict[str, str]:
    """Production settings on the test database, with this process's SECRET_KEY (jobs are
    signed with it)."""
    settings = connection.settings_dict
    url = f"postgres://{settings['USER']}@{settings['HOST']}:{settings['PORT']}/{settings['NAME']}"
    return child_environment(
        {
            "DATABASE_URL": url,
            "SECRET_KEY": os.environ["SECRET_KEY"],
            "VAULT_KEYS": os.environ["VAULT_KEYS"],
            "ALLOWED_HOSTS": "localhost",
            "WORKER_PROCESSES": "1",
            **extra,
        }
    )


@contextmanager
def running_worker(log: Path, **extra: str) -> Iterator[subprocess.Popen[bytes]]:
    """A worker in a process group of its own (so a test's SIGKILL reaches its children too),
    stopped with SIGTERM at the end if the test did not stop it."""
    with log.open("ab") as output:
        process = subprocess.Popen(
            [sys.executable, "manage.py", "qcluster"],
            cwd=REPO_ROOT,
            env=worker_environment(**extra),
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)  # as `docker stop` does: the main process
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def wait_until(condition: Callable[[], bool], *, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.1)


def queued_jobs() -> list[tuple[Any, ...]]:
    """The arguments of each job waiting in the queue, oldest first."""
    return [job.task["args"] for job in OrmQ.objects.order_by("id")]


def run_queued_jobs() -> None:
    """Run the queued jobs here, as a worker would, and take them off the queue."""
    for job in OrmQ.objects.order_by("id"):
        run(*job.task["args"])
        job.delete()


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on, for a server a test starts."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port

"""`make run`'s processes on its embedded default: Procfile.dev's web server and job worker,
started together by honcho on one SQLite file (SPEC §13). Everything runs in child processes
on a file of its own, whatever the suite's database."""

import http.client
import os
import secrets
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.manage_process import REPO_ROOT, child_environment, run_manage
from tests.workers import free_port, wait_until
from tokens_vault.keyring import generate_key_entry

pytestmark = pytest.mark.usefixtures("sqlite_pass_only")
HONCHO = Path(sys.executable).parent / "honcho"  # beside the interpreter, in .venv


def _healthy(port: int) -> bool:
    try:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
        connection.request("GET", "/healthz")
        return connection.getresponse().status == 200
    except OSError:
        return False


def test_the_web_and_a_worker_start_together_and_run_jobs(tmp_path: Path) -> None:
    notes = tmp_path / "notes"
    port = free_port()
    env = {
        "DEBUG": "true",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "VAULT_KEYS": generate_key_entry("dev1"),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "PORT": str(port),
    }
    assert run_manage("migrate", "--noinput", env=env).returncode == 0
    with (tmp_path / "honcho.log").open("wb") as log:
        processes = subprocess.Popen(  # noqa: S603 - honcho from our virtualenv, our Procfile
            [str(HONCHO), "start", "-f", "Procfile.dev"],
            cwd=REPO_ROOT,
            env={**child_environment(env), "PATH": f"{HONCHO.parent}:{os.environ['PATH']}"},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wait_until(lambda: _healthy(port), timeout=60, what="the web process")
        enqueued = run_manage(
            "shell",
            "-c",
            f"from core.jobs import enqueue; enqueue('tests.job_functions.note', '{notes}', 'hi')",
            env=env,
        )
        assert enqueued.returncode == 0, enqueued.stderr
        wait_until(notes.exists, timeout=30, what="the worker to run the job")
    finally:
        # As Ctrl-C in `make run`: honcho stops both processes (each in a process group of
        # its own, so only honcho can reach them), with SIGKILL after its 5 s of grace.
        processes.send_signal(signal.SIGTERM)
        processes.wait(timeout=30)

    assert notes.read_text() == "hi\n"

"""SPEC §13: jobs run by real workers (`manage.py qcluster` processes) on the suite's
PostgreSQL database: written in the caller's transaction, taken again after a worker dies in
them, periodic ones scheduled once per period however many workers run, a clean stop on
SIGTERM, and failures retried with growing pauses."""

import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.db import transaction
from django.test import Client
from django.utils import timezone
from django_q.models import Failure, OrmQ, Schedule
from django_q.scheduler import scheduler

from audit.models import AuditAction, AuditEntry
from core import jobs
from orders.models import Order, OrderStatus
from tests.factories import UserFactory, make_listing
from tests.manage_process import REPO_ROOT
from tests.workers import running_worker, wait_until, worker_environment

pytestmark = [
    pytest.mark.django_db(transaction=True),  # workers see only what is committed
    pytest.mark.usefixtures("require_postgres"),
]


def _lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def test_a_job_of_a_rolled_back_transaction_never_runs(tmp_path: Path) -> None:
    notes = tmp_path / "notes"
    with pytest.raises(RuntimeError), transaction.atomic():
        jobs.enqueue("tests.job_functions.note", str(notes), "rolled back")
        raise RuntimeError("the change fails")
    with transaction.atomic():
        jobs.enqueue("tests.job_functions.note", str(notes), "committed")

    with running_worker(tmp_path / "worker.log"):
        wait_until(lambda: "committed" in _lines(notes), timeout=30, what="the committed job")
        wait_until(lambda: not OrmQ.objects.exists(), timeout=10, what="an empty queue")

    assert _lines(notes) == ["committed"]


def test_a_job_cut_short_by_sigkill_runs_again_on_another_worker(tmp_path: Path) -> None:
    notes = tmp_path / "notes"
    jobs.enqueue("tests.job_functions.note_slowly", str(notes), "sync", 1.5)
    short = {"JOB_TIMEOUT_SECONDS": "2"}  # so the dead worker's job is handed on after 4 s

    with running_worker(tmp_path / "first.log", **short) as first:
        wait_until(lambda: "sync started" in _lines(notes), timeout=30, what="the job to start")
        os.killpg(first.pid, signal.SIGKILL)
        first.wait(timeout=10)
    assert _lines(notes) == ["sync started"]

    with running_worker(tmp_path / "second.log", **short):
        wait_until(lambda: "sync done" in _lines(notes), timeout=30, what="the job to run again")

    assert _lines(notes) == ["sync started", "sync started", "sync done"]


def test_sigterm_lets_the_job_in_progress_finish(tmp_path: Path) -> None:
    notes = tmp_path / "notes"
    jobs.enqueue("tests.job_functions.note_slowly", str(notes), "report", 1.5)

    with running_worker(tmp_path / "worker.log") as worker:
        wait_until(lambda: "report started" in _lines(notes), timeout=30, what="the job")
        worker.send_signal(signal.SIGTERM)  # as `docker stop` does: to the main process
        assert worker.wait(timeout=20) == 0

    assert _lines(notes) == ["report started", "report done"]
    assert not OrmQ.objects.exists()  # finished, so not left to run again


def test_workers_scheduling_at_once_schedule_one_run_per_period(tmp_path: Path) -> None:
    """Every worker's supervisor runs django-q's scheduler (every 30 s); here four processes
    run it at the same moment, several times each, on a schedule that is due."""
    due = timezone.now() - timedelta(seconds=1)
    schedule = Schedule.objects.create(
        name="test tick",
        func="tests.job_functions.note",
        args=repr((str(tmp_path / "notes"), "tick")),
        schedule_type=Schedule.MINUTES,
        minutes=1,
        next_run=due,
    )
    start_at = time.time() + 2  # all four start together, once Django is loaded in each
    script = (
        "import time, django; django.setup()\n"
        "from django_q.scheduler import scheduler\n"
        f"time.sleep(max(0, {start_at} - time.time()))\n"
        "for _ in range(5): scheduler()\n"
    )
    processes = [
        subprocess.Popen(  # noqa: S603 - our own interpreter and script
            [sys.executable, "-c", script], cwd=REPO_ROOT, env=worker_environment()
        )
        for _ in range(4)
    ]
    assert [process.wait(timeout=60) for process in processes] == [0, 0, 0, 0]

    created = [job for job in OrmQ.objects.all() if job.task.get("group") == "test tick"]
    assert len(created) == 1
    schedule.refresh_from_db()
    assert schedule.next_run == due + timedelta(minutes=1)


def test_the_reservation_sweep_runs_as_a_periodic_job(tmp_path: Path) -> None:
    listing = make_listing(seller=UserFactory.create(), units=10, price="9.00")
    listing.available_units -= 2
    listing.save(update_fields=["available_units"])
    order = Order.objects.create(
        buyer=UserFactory.create(),
        listing=listing,
        units=2,
        unit_price=listing.price_per_unit,
        total_price=listing.price_per_unit * 2,
        currency=listing.currency,
        status=OrderStatus.AWAITING_PAYMENT,
        payment_path=Order.PaymentPath.CHECKOUT,
        reserved_until=timezone.now() - timedelta(minutes=1),
    )
    Schedule.objects.update(next_run=timezone.now() + timedelta(hours=1))
    Schedule.objects.filter(name="sweep reservations").update(next_run=timezone.now())
    scheduler()  # what each worker's supervisor runs every 30 s: the sweep is now queued

    with running_worker(tmp_path / "worker.log"):
        wait_until(
            lambda: Order.objects.get(pk=order.pk).status == OrderStatus.EXPIRED,
            timeout=30,
            what="the sweep to release the reservation",
        )

    listing.refresh_from_db()
    assert listing.available_units == 10


def test_operators_see_a_failed_job_and_resubmit_it(tmp_path: Path) -> None:
    notes = tmp_path / "notes"
    jobs.enqueue("tests.job_functions.fail", str(notes))
    with running_worker(tmp_path / "worker.log", JOB_MAX_ATTEMPTS="1"):
        wait_until(Failure.objects.exists, timeout=30, what="the failure on record")
    operator = UserFactory.create(is_staff=True, is_superuser=True)
    client = Client()
    client.force_login(operator)

    listing = client.get("/admin/django_q/failure/")
    assert listing.status_code == 200
    assert "tests.job_functions.fail" in listing.content.decode()  # the job, not the runner
    [failure] = Failure.objects.all()
    client.post(
        "/admin/django_q/failure/",
        {"action": "resubmit", "_selected_action": [failure.pk], "index": "0"},
    )

    assert [job.task["args"][0] for job in OrmQ.objects.all()] == ["tests.job_functions.fail"]
    assert not Failure.objects.exists()
    [entry] = AuditEntry.objects.filter(action=AuditAction.JOB_RESUBMIT)
    assert (entry.actor_id, entry.target_id) == (operator.pk, failure.pk)
    assert "tests.job_functions.fail" in entry.summary

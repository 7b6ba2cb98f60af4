"""A failing job runs again after pauses that double, up to JOB_MAX_ATTEMPTS, and each failure
stays on record for operators (SPEC §13)."""

import ast
from datetime import timedelta
from pathlib import Path

import pytest
from django.test import Client
from django.utils import timezone
from django_q.models import OrmQ, Schedule

from audit.models import AuditAction, AuditEntry
from core import jobs
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def _retries() -> list[Schedule]:
    return list(Schedule.objects.filter(func="core.jobs.run").order_by("next_run"))


def test_each_retry_waits_twice_as_long_as_the_one_before(tmp_path: Path, settings: object) -> None:
    notes = str(tmp_path / "notes")
    waits = []
    for attempt in (1, 2, 3):
        before = timezone.now()
        with pytest.raises(RuntimeError):
            jobs.run("tests.job_functions.fail", [notes], attempt)
        [retry] = _retries()
        waits.append(retry.next_run - before)
        assert ast.literal_eval(retry.args) == ("tests.job_functions.fail", [notes], attempt + 1)
        retry.delete()

    assert [round(wait.total_seconds()) for wait in waits] == [10, 20, 40]


def test_the_pause_is_capped_and_the_last_attempt_is_not_retried(settings: object) -> None:
    assert jobs.retry_delay(20) == timedelta(hours=1)
    last = settings.JOB_MAX_ATTEMPTS  # type: ignore[attr-defined]

    with pytest.raises(RuntimeError):
        jobs.run("tests.job_functions.fail", ["/dev/null"], last)

    assert _retries() == []


def test_a_job_that_succeeds_is_not_retried(tmp_path: Path) -> None:
    notes = tmp_path / "notes"
    jobs.run("tests.job_functions.note", [str(notes), "once"], 1)

    assert notes.read_text() == "once\n"
    assert _retries() == []


def test_the_periodic_schedules_follow_the_settings() -> None:
    sweep = Schedule.objects.get(name="sweep reservations")

    assert (sweep.func, sweep.schedule_type, sweep.minutes, sweep.repeats) == (
        "orders.jobs.reservations_sweep_job",
        Schedule.MINUTES,
        1,
        -1,
    )


def test_operators_edits_of_schedules_and_the_queue_are_audited(tmp_path: Path) -> None:
    operator = UserFactory.create(is_staff=True, is_superuser=True)
    client = Client()
    client.force_login(operator)
    jobs.enqueue("tests.job_functions.note", str(tmp_path / "notes"), "never")
    [queued] = OrmQ.objects.all()
    sweep = Schedule.objects.get(name="sweep reservations")

    client.post(f"/admin/django_q/ormq/{queued.pk}/delete/", {"post": "yes"})
    client.post(f"/admin/django_q/schedule/{sweep.pk}/delete/", {"post": "yes"})

    assert not OrmQ.objects.exists() and not Schedule.objects.exists()
    entries = AuditEntry.objects.filter(actor=operator, action=AuditAction.ADMIN_DELETE)
    assert sorted(entries.values_list("target_type", flat=True)) == ["ormq", "schedule"]

"""Background jobs on django-q2 (docs/decisions.md): enqueued as a row of the caller's
transaction, run by `manage.py qcluster` workers on any number of machines, retried with
exponential backoff, and periodic ones kept in step with settings.JOB_SCHEDULES.

A job is a function named by its dotted path, called with JSON-like arguments (ids, not
model instances: the worker reads the state as it is when the job runs). Jobs may run more
than once (a retry after a worker died mid-job), so each must be safe to repeat.
"""

import logging
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.utils import timezone
from django.utils.module_loading import import_string
from django_q.models import Schedule
from django_q.tasks import async_task, schedule

logger = logging.getLogger(__name__)

# The first retry waits this long, each later one twice the one before, up to the cap.
RETRY_FIRST_SECONDS = 10
RETRY_CAP_SECONDS = 3600


def enqueue(function: str, *args: Any) -> None:
    """Have a worker call `function(*args)`. Inside a transaction the job is written with it:
    a rollback leaves no job, and a committed change never lacks its job."""
    async_task(run, function, list(args), 1, task_name=function)


def run(function: str, args: list[Any], attempt: int) -> Any:
    """What a worker calls: the job, and if it raises, its next attempt scheduled after an
    exponentially growing pause, until JOB_MAX_ATTEMPTS. The failure itself is recorded, so
    operators see it in the admin (and can resubmit it there)."""
    try:
        return import_string(function)(*args)
    except Exception:
        if attempt < settings.JOB_MAX_ATTEMPTS:
            delay = retry_delay(attempt)
            schedule(
                "core.jobs.run",
                function,
                args,
                attempt + 1,
                schedule_type=Schedule.ONCE,
                next_run=timezone.now() + delay,
            )
            logger.warning("job %s failed (attempt %s), retried in %s", function, attempt, delay)
        else:
            logger.error("job %s failed %s times, not retried", function, attempt)
        raise


def retry_delay(attempt: int) -> timedelta:
    """The pause before the attempt after `attempt` (1-based)."""
    return timedelta(seconds=min(RETRY_FIRST_SECONDS * 2 ** (attempt - 1), RETRY_CAP_SECONDS))


def schedules_sync(**kwargs: Any) -> None:
    """Make the stored schedules those of settings.JOB_SCHEDULES (after every migrate, so a
    release brings them in step). Each runs once per period whatever the number of workers:
    the worker that schedules a run moves the schedule on under its row lock."""
    for name, (function, minutes) in settings.JOB_SCHEDULES.items():
        Schedule.objects.update_or_create(
            name=name,
            defaults={
                "func": function,
                "schedule_type": Schedule.MINUTES,
                "minutes": minutes,
                "repeats": -1,
            },
        )

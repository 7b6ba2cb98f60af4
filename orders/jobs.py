"""Order work that runs on the job workers (core.jobs) on a schedule."""

from orders.reservations import reservations_sweep


def reservations_sweep_job() -> None:
    """The periodic reservation sweep (settings.JOB_SCHEDULES). Safe beside another run of
    itself or of `manage.py sweep_reservations`: each order is settled under its locks."""
    reservations_sweep(limit=500)

"""Release expired, unpaid reservations (after asking Stripe) and follow the Checkout Sessions
of released orders until Stripe settles them; safe to run from cron, and concurrently with
itself."""

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from orders.reservations import reservations_sweep


class Command(BaseCommand):
    help = (
        "Settle expired reservations (fulfil the paid ones, release the rest) and the sessions "
        "of released orders that may still be paid."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--limit", type=int, default=500, help="orders per run")

    def handle(self, *args: Any, limit: int, **options: Any) -> None:
        report = reservations_sweep(limit=limit)
        self.stdout.write(
            f"released {report.released}, fulfilled {report.fulfilled}, "
            f"skipped {report.skipped} (Stripe unreachable), "
            f"refunds settled {report.refunds_settled}, sessions closed {report.sessions_closed}, "
            f"refunds due {report.refunds_due}"
        )

"""Re-encrypt the vault under the active key; only parses options and prints counts (the
work is `tokens_vault.rotation`). Never prints a secret: only counts, key ids, secret ids."""

import argparse
import sys
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from tokens_vault.rotation import RotationResult, secrets_pending_rotation, secrets_rotate


def positive_int(value: str) -> int:
    number = int(value)
    if number < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return number


def _secrets(count: int) -> str:
    return f"{count} secret{'' if count == 1 else 's'}"


class Command(BaseCommand):
    help = (
        "Re-encrypt every vault secret under the active key (the first entry of VAULT_KEYS), "
        "in batches of short transactions, while the app keeps serving. Safe to interrupt "
        "and to run again: each run continues with the secrets still under an older key. "
        "Keep every old key in VAULT_KEYS until this command reports 0 remain; a secret "
        "whose key has been removed can no longer be decrypted by anyone. Exits non-zero "
        "if some secret could not be decrypted (listed by id)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--batch-size", type=positive_int, default=500, help="secrets per transaction (500)"
        )
        parser.add_argument(
            "--max-batches",
            type=positive_int,
            default=None,
            help="stop after this many batches; run again later to continue",
        )
        parser.add_argument(
            "--check",
            action="store_true",
            help="change nothing: report how many secrets each older key still holds, "
            "and exit with status 1 while any remain (like migrate --check)",
        )

    def handle(
        self, *args: Any, batch_size: int, max_batches: int | None, check: bool, **options: Any
    ) -> None:
        if check:
            self._check()
            return
        verbose = options["verbosity"] >= 2
        report = secrets_rotate(
            batch_size=batch_size,
            max_batches=max_batches,
            on_batch=self._progress if verbose else None,
        )
        self.stdout.write(
            f"re-encrypted {_secrets(report.rotated)} under key {report.key_id} "
            f"in {report.batches} batch{'' if report.batches == 1 else 'es'}; "
            f"{report.remaining} remain"
        )
        if report.changed_meanwhile:
            self.stdout.write(
                f"skipped {_secrets(report.changed_meanwhile)} changed by another writer "
                "during the run (the newer value stands)"
            )
        for failure in report.failures:
            self.stderr.write(
                f"secret {failure.secret_id} (key {failure.key_id}) was not re-encrypted: "
                f"{failure.reason}"
            )
        if report.failures:
            raise CommandError(
                f"{_secrets(len(report.failures))} left under an old key because decryption "
                "failed (listed above)"
            )

    def _progress(self, result: RotationResult) -> None:
        self.stdout.write(
            f"batch: re-encrypted {result.rotated}, changed meanwhile "
            f"{result.changed_meanwhile}, not decryptable {len(result.failures)}"
        )

    def _check(self) -> None:
        pending = secrets_pending_rotation()
        for key_id, count in pending.items():
            self.stdout.write(f"key {key_id}: {_secrets(count)}")
        active = settings.VAULT_KEYRING.active_id
        self.stdout.write(f"{sum(pending.values())} remain to be re-encrypted under key {active}")
        if pending:
            sys.exit(1)

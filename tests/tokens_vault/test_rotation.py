"""SPEC §4: `manage.py rotate_vault_key` re-encrypts the vault under the active key, in
batches, resumably, while the app keeps serving, and never shows a secret.

Every test starts with the vault sealed under the key "old" alone, then deploys "new" in
front of it (`VAULT_KEYS=new,old`) before rotating, as an operator would.
"""

import dataclasses
import secrets
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from io import StringIO
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.db import connection, transaction

from accounts.models import User
from audit.services import RequestOrigin
from listings.models import Listing
from listings.services import listing_update
from orders.services import order_create
from tests.factories import UserFactory, make_listing
from tests.threads import all_at_once
from tokens_vault import rotation
from tokens_vault.crypto import VaultDecryptError
from tokens_vault.keyring import generate_key_entry, parse_keyring
from tokens_vault.management.commands.rotate_vault_key import Command
from tokens_vault.models import Secret, Token
from tokens_vault.rotation import RotationReport, secrets_rotate
from tokens_vault.services import secret_plaintext, secrets_create, tokens_reveal

OLD, NEW, GONE = (generate_key_entry(key_id) for key_id in ("old", "new", "gone"))
ORIGIN = RequestOrigin(ip="127.0.0.1", user_agent="pytest")


def _use_keys(settings: Any, *entries: str) -> None:
    """What setting VAULT_KEYS and restarting the app does: the first entry is active."""
    settings.VAULT_KEYRING = parse_keyring(",".join(entries))


@pytest.fixture(autouse=True)
def _sealed_under_old_key(settings: Any) -> None:
    _use_keys(settings, OLD)


@dataclass(frozen=True)
class Run:
    out: str
    err: str
    status: int

    def shows_none_of(self, plaintexts: Iterable[str]) -> bool:
        return not any(text in self.out + self.err for text in plaintexts)


def _rotate(*args: str) -> Run:
    """The command as an operator runs it, with its output and exit status."""
    out, err = StringIO(), StringIO()
    status = 0
    try:
        call_command("rotate_vault_key", *args, stdout=out, stderr=err)
    except CommandError as exc:  # manage.py prints it and exits with its return code
        err.write(f"CommandError: {exc}\n")
        status = exc.returncode
    except SystemExit as exc:
        status = int(exc.code or 0)
    return Run(out=out.getvalue(), err=err.getvalue(), status=status)


def _plaintexts(of: Sequence[Secret] | None = None) -> dict[uuid.UUID, str]:
    """Every secret in the vault (or those `of`), read afresh and decrypted with the key ring
    in force."""
    rows = Secret.objects.all() if of is None else Secret.objects.filter(pk__in=[s.pk for s in of])
    return {secret.pk: secret_plaintext(secret) for secret in rows}


def _key_ids() -> dict[str, int]:
    counts: dict[str, int] = {}
    for key_id in Secret.objects.values_list("key_id", flat=True):
        counts[key_id] = counts.get(key_id, 0) + 1
    return counts


def _reveal(user: User) -> dict[int, str | None]:
    """What the buyer's tokens show through the audited reveal path."""
    tokens = Token.objects.filter(owner=user).select_related("secret").order_by("pk")
    return tokens_reveal(tokens=tokens, actor=user, origin=ORIGIN)


def _buy(buyer: User, listing: Listing, units: int) -> None:
    order_create(buyer=buyer, listing_id=listing.pk, units=units)  # <= 5.00: instant


@pytest.mark.django_db
def test_every_secret_moves_to_the_new_key_and_reveals_the_same_plaintext(
    settings: Any, buyer: User, caplog: pytest.LogCaptureFixture
) -> None:
    pool = [f"pool-secret-{n}-{secrets.token_hex(6)}" for n in range(5)]
    _buy(buyer, make_listing(units=5, price="0.50", secret="shared-" + secrets.token_hex(8)), 2)
    _buy(buyer, make_listing(pool=pool, price="0.50"), 3)
    revealed, plaintexts = _reveal(buyer), _plaintexts()
    assert len(revealed) == 5
    assert None not in revealed.values()
    nonces = dict(Secret.objects.values_list("pk", "nonce"))

    _use_keys(settings, NEW, OLD)
    run = _rotate("--batch-size=2")

    assert run.status == 0, run.err
    assert run.out == "re-encrypted 6 secrets under key new in 3 batches; 0 remain\n"
    assert _key_ids() == {"new": 6}
    renewed = Secret.objects.values_list("pk", "nonce")
    assert all(bytes(nonce) != bytes(nonces[pk]) for pk, nonce in renewed)
    _use_keys(settings, NEW)  # the old key can go now: nothing needs it any more
    assert _reveal(buyer) == revealed  # the shared and the pool tokens alike
    assert _plaintexts() == plaintexts  # the pool's undelivered secrets too
    assert run.shows_none_of(plaintexts.values())
    assert not any(text in caplog.text for text in plaintexts.values())


@pytest.fixture
def seven_secrets(settings: Any) -> dict[uuid.UUID, str]:
    """Seven secrets under "old", then "new" deployed in front of it."""
    secrets_create(plaintexts=[f"seven-{n}-{secrets.token_hex(6)}" for n in range(7)])
    plaintexts = _plaintexts()
    _use_keys(settings, NEW, OLD)
    return plaintexts


@pytest.mark.django_db
def test_a_run_stopped_by_max_batches_resumes_and_finishes(
    seven_secrets: dict[uuid.UUID, str],
) -> None:
    first = _rotate("--batch-size=2", "--max-batches=2")
    assert (first.status, first.out) == (
        0,
        "re-encrypted 4 secrets under key new in 2 batches; 3 remain\n",
    )
    assert _key_ids() == {"new": 4, "old": 3}

    second = _rotate("--batch-size=2", "--verbosity=2")  # with a line per batch
    assert (second.status, second.out) == (
        0,
        "batch: re-encrypted 2, changed meanwhile 0, not decryptable 0\n"
        "batch: re-encrypted 1, changed meanwhile 0, not decryptable 0\n"
        "re-encrypted 3 secrets under key new in 2 batches; 0 remain\n",
    )
    assert _key_ids() == {"new": 7}
    assert _plaintexts() == seven_secrets


class PowerCut(Exception):
    """The process dies halfway through a batch's writes."""


@pytest.mark.django_db
def test_a_run_killed_in_the_middle_of_a_batch_loses_nothing(
    seven_secrets: dict[uuid.UUID, str],
) -> None:
    updates = 0

    def die_on_the_sixth_update(execute: Any, sql: str, *args: Any) -> Any:
        nonlocal updates
        if sql.startswith('UPDATE "tokens_vault_secret"'):
            updates += 1
            if updates == 6:  # the second write of the third batch
                raise PowerCut
        return execute(sql, *args)

    with connection.execute_wrapper(die_on_the_sixth_update), pytest.raises(PowerCut):
        _rotate("--batch-size=2")

    assert _key_ids() == {"new": 4, "old": 3}  # two batches kept, the third undone whole
    run = _rotate("--batch-size=2")
    assert run.out == "re-encrypted 3 secrets under key new in 2 batches; 0 remain\n"
    assert _plaintexts() == seven_secrets


def _flip_a_byte(secret: Secret) -> None:
    damaged = bytearray(secret.ciphertext)
    damaged[0] ^= 0x01
    Secret.objects.filter(pk=secret.pk).update(ciphertext=bytes(damaged))


@pytest.mark.django_db
def test_undecryptable_secrets_are_reported_by_id_and_the_rest_still_rotate(
    settings: Any, caplog: pytest.LogCaptureFixture
) -> None:
    _use_keys(settings, GONE)
    [orphan] = secrets_create(plaintexts=["sealed-under-a-dropped-key"])
    _use_keys(settings, OLD)
    [damaged, *healthy] = secrets_create(
        plaintexts=[f"ok-{n}-{secrets.token_hex(6)}" for n in range(5)]
    )
    readable = _plaintexts(of=healthy)
    _flip_a_byte(damaged)
    untouched = {s.pk: s.sealed for s in Secret.objects.filter(pk__in=[orphan.pk, damaged.pk])}
    _use_keys(settings, NEW, OLD)  # "gone" is not in the ring

    run = _rotate("--batch-size=2")

    assert run.status == 1
    assert run.out == "re-encrypted 4 secrets under key new in 3 batches; 2 remain\n"
    assert (
        f"secret {orphan.pk} (key gone) was not re-encrypted: its key is not in VAULT_KEYS"
        in run.err
    )
    assert (
        f"secret {damaged.pk} (key old) was not re-encrypted: it failed authentication" in run.err
    )
    assert "CommandError: 2 secrets left under an old key because decryption failed" in run.err
    assert _key_ids() == {"new": 4, "old": 1, "gone": 1}
    assert {s.pk: s.sealed for s in Secret.objects.filter(pk__in=untouched)} == untouched
    assert _plaintexts(of=healthy) == readable
    texts = [*readable.values(), "sealed-under-a-dropped-key"]
    assert run.shows_none_of(texts)
    assert not any(text in caplog.text for text in texts)

    again = _rotate("--batch-size=2")  # each run tries them again, and says so again
    assert again.status == 1
    assert again.out == "re-encrypted 0 secrets under key new in 1 batch; 2 remain\n"
    assert str(orphan.pk) in again.err and str(damaged.pk) in again.err


def _copy_envelope(source: Secret, target: Secret) -> None:
    """Paste one row's key id, nonce and ciphertext onto another, as someone with write access
    to the database could."""
    envelope = dataclasses.asdict(Secret.objects.get(pk=source.pk).sealed)
    Secret.objects.filter(pk=target.pk).update(**envelope)


@pytest.mark.django_db
def test_a_ciphertext_copied_onto_another_row_still_fails(settings: Any) -> None:
    original, other, forged = secrets_create(
        plaintexts=["original-value-1", "other-value-22", "x" * 16]
    )
    _copy_envelope(original, forged)  # copied before rotation: not laundered into a valid row
    _use_keys(settings, NEW, OLD)

    run = _rotate()

    assert run.status == 1
    assert f"secret {forged.pk} (key old) was not re-encrypted: it failed authentication" in run.err
    _copy_envelope(original, other)  # copied after rotation: the new ciphertext is bound too
    assert secret_plaintext(Secret.objects.get(pk=original.pk)) == "original-value-1"
    for row in (other, forged):
        with pytest.raises(VaultDecryptError):
            secret_plaintext(Secret.objects.get(pk=row.pk))


@pytest.mark.django_db
def test_a_secret_replaced_during_the_batch_keeps_its_new_value(
    settings: Any, monkeypatch: pytest.MonkeyPatch, seller: User, buyer: User
) -> None:
    listing = make_listing(seller=seller, units=5, price="0.50", secret="before-the-replace")
    _buy(buyer, listing, 1)
    secrets_create(plaintexts=["bystander-secret-value"])
    _use_keys(settings, NEW, OLD)
    real_unseal = rotation.unseal

    def seller_replaces_right_after_the_read(*args: Any, binding: str) -> str:
        plaintext = real_unseal(*args, binding=binding)
        if binding == f"secret:{listing.shared_secret_id}":
            listing_update(seller=seller, listing_id=listing.pk, changes={"secret": "after-it"})
        return plaintext  # the stale value rotation would write back without its check

    monkeypatch.setattr(rotation, "unseal", seller_replaces_right_after_the_read)
    run = _rotate()

    assert run.out == (
        "re-encrypted 1 secret under key new in 1 batch; 0 remain\n"
        "skipped 1 secret changed by another writer during the run (the newer value stands)\n"
    )
    assert list(_reveal(buyer).values()) == ["after-it"]
    assert _key_ids() == {"new": 2}


@pytest.mark.django_db
def test_check_reports_what_remains_per_key_and_changes_nothing(settings: Any) -> None:
    secrets_create(plaintexts=["first-value-1", "second-value-2", "third-value-3"])
    older = generate_key_entry("older")
    _use_keys(settings, older)
    secrets_create(plaintexts=["oldest-value-4"])
    _use_keys(settings, NEW, OLD, older)
    envelopes = {s.pk: s.sealed for s in Secret.objects.all()}

    check = _rotate("--check")

    assert (check.status, check.out) == (
        1,
        "key old: 3 secrets\nkey older: 1 secret\n4 remain to be re-encrypted under key new\n",
    )
    assert {s.pk: s.sealed for s in Secret.objects.all()} == envelopes
    assert _rotate().status == 0
    done = _rotate("--check")
    assert (done.status, done.out) == (0, "0 remain to be re-encrypted under key new\n")


def test_batch_options_must_be_positive() -> None:
    for option in ("--batch-size=0", "--max-batches=-1"):
        with pytest.raises(CommandError, match="must be at least 1"):
            call_command("rotate_vault_key", option)


def test_help_says_to_keep_old_keys_until_nothing_remains() -> None:
    assert "Keep every old key in VAULT_KEYS until this command reports 0 remain" in " ".join(
        Command.help.split()
    )


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("require_postgres")
def test_rotation_while_buyers_buy_and_a_seller_replaces_a_secret(settings: Any) -> None:
    seller = UserFactory.create()
    shared = make_listing(seller=seller, units=100, price="0.10", secret="shared-before-0001")
    other = make_listing(units=100, price="0.10", secret="other-shared-0002")
    pool_values = [f"pool-{n:03d}-{secrets.token_hex(6)}" for n in range(100)]
    pool = make_listing(pool=pool_values, price="0.10")
    secrets_create(plaintexts=[f"filler-{n:03d}" for n in range(300)])  # more batches
    buyers = UserFactory.create_batch(4)
    _buy(buyers[2], shared, 2)  # tokens sold before the replace must show the new value too
    before = _plaintexts()
    _use_keys(settings, NEW, OLD)

    reports: list[RotationReport] = []
    replaced: list[str] = []
    rotated = threading.Event()

    def rotate() -> None:
        try:
            reports.append(secrets_rotate(batch_size=10))
        finally:
            rotated.set()

    def replace_until_rotation_ends() -> None:
        while not rotated.is_set() or not replaced:
            value = f"shared-after-{len(replaced):04d}-{secrets.token_hex(4)}"
            listing_update(seller=seller, listing_id=shared.pk, changes={"secret": value})
            replaced.append(value)

    def buying(buyer: User, listing: Listing) -> Callable[[], None]:
        def buy_18_units_in_12_orders() -> None:
            for n in range(12):
                _buy(buyer, listing, 1 + n % 2)

        return buy_18_units_in_12_orders

    all_at_once(
        [
            rotate,
            replace_until_rotation_ends,
            buying(buyers[0], pool),
            buying(buyers[1], pool),
            buying(buyers[2], shared),
            buying(buyers[3], other),
        ]
    )

    [report] = reports
    assert (report.failures, report.remaining) == ((), 0)
    assert _key_ids() == {"new": len(before)}
    _use_keys(settings, NEW)  # nothing needs the old key any more
    assert _plaintexts() == before | {shared.shared_secret_id: replaced[-1]}
    expected = {shared.pk: replaced[-1], other.pk: "other-shared-0002"}
    delivered: list[str] = []
    for buyer in buyers:
        revealed = _reveal(buyer)
        for token in Token.objects.filter(owner=buyer).select_related("order"):
            listing_id = token.order.listing_id
            if listing_id == pool.pk:
                delivered.append(str(revealed[token.pk]))
            else:
                assert revealed[token.pk] == expected[listing_id], token
    assert len(delivered) == 36 == len(set(delivered))  # 2 buyers x 18 units, each once
    assert set(delivered) <= set(pool_values)


def _wait_until_blocked(pid: int) -> None:
    """Return once PostgreSQL backend `pid` waits for a lock (the caller's row lock)."""
    deadline = time.monotonic() + 10
    with connection.cursor() as cursor:
        while time.monotonic() < deadline:
            cursor.execute("SELECT cardinality(pg_blocking_pids(%s))", [pid])
            row = cursor.fetchone()
            if row and row[0]:
                return
            time.sleep(0.01)
    raise AssertionError("rotation never waited for the seller's row lock")


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("require_postgres")
def test_a_replace_still_uncommitted_when_rotation_writes_wins(
    settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The exact interleaving, forced: rotation reads the secret, the seller replaces it and
    holds the row lock, rotation's UPDATE waits for it, the seller commits; PostgreSQL then
    re-checks the UPDATE's condition on the new row, which no longer matches."""
    seller, buyer = UserFactory.create(), UserFactory.create()
    listing = make_listing(seller=seller, units=5, price="0.50", secret="before-the-replace")
    _buy(buyer, listing, 1)
    _use_keys(settings, NEW, OLD)
    rotation_pid: list[int] = []
    reports: list[RotationReport] = []
    read, replaced = threading.Event(), threading.Event()
    real_unseal = rotation.unseal

    def unseal_then_let_the_seller_in(*args: Any, binding: str) -> str:
        plaintext = real_unseal(*args, binding=binding)
        read.set()
        assert replaced.wait(timeout=10)
        return plaintext

    def rotate() -> None:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            rotation_pid.append(cursor.fetchone()[0])
        reports.append(secrets_rotate(batch_size=10))

    def replace_and_commit_once_rotation_waits() -> None:
        assert read.wait(timeout=10)
        with transaction.atomic():
            listing_update(seller=seller, listing_id=listing.pk, changes={"secret": "after-it"})
            replaced.set()
            _wait_until_blocked(rotation_pid[0])

    monkeypatch.setattr(rotation, "unseal", unseal_then_let_the_seller_in)
    all_at_once([rotate, replace_and_commit_once_rotation_waits])

    [report] = reports
    assert (report.rotated, report.changed_meanwhile, report.remaining) == (0, 1, 0)
    _use_keys(settings, NEW)
    assert list(_reveal(buyer).values()) == ["after-it"]

"""25 buyers race for 7 units through a real gunicorn on PostgreSQL (issue #2's figure).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/agora_bench .venv/bin/python bench/race.py

Creates the database if needed, migrates, starts gunicorn (sync workers, persistent
connections), fires the purchases from this separate process with a barrier so they leave
together, and prints the wall time and the status codes. The full benchmark harness of the
production issue (#6) will supersede this.
"""

import argparse
import json
import os
import secrets
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _env() -> dict[str, str]:
    from tokens_vault.keyring import generate_key_entry

    env = dict(os.environ)
    env.setdefault("SECRET_KEY", secrets.token_urlsafe(50))
    env.setdefault("VAULT_KEYS", generate_key_entry("bench"))
    env.update(
        DEBUG="false", SECURE_SSL_REDIRECT="false", DJANGO_SETTINGS_MODULE="marketplace.settings"
    )
    return env


def _prepare(buyers: int, units: int) -> tuple[int, list[str]]:
    import django

    django.setup()
    from decimal import Decimal

    from django.core.management import call_command

    from accounts.models import User
    from accounts.services import api_session_create
    from listings.services import ListingDetails, listing_create

    call_command("migrate", verbosity=0)
    run = secrets.token_hex(4)
    seller = User.objects.create_user(email=f"seller-{run}@bench.test", password=None)
    listing = listing_create(
        seller=seller,
        details=ListingDetails(
            service_name=f"Race {run}", unit_description="unit", price_per_unit=Decimal("0.10")
        ),
        delivery_mode="shared",
        shared_secret="bench-shared-value",
        units=units,
    )
    tokens = []
    for n in range(buyers):
        buyer = User.objects.create_user(email=f"buyer{n}-{run}@bench.test", password=None)
        tokens.append(api_session_create(user=buyer, ip=None, user_agent="bench").token)
    return listing.pk, tokens


def _buy(url: str, token: str, listing_id: int, barrier: threading.Barrier, out: list) -> None:
    body = json.dumps({"listing_id": listing_id, "units": 1}).encode()
    request = urllib.request.Request(
        url,
        data=body,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    barrier.wait()
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            out.append(response.status)
    except urllib.error.HTTPError as error:
        out.append(error.code)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--buyers", type=int, default=25)
    parser.add_argument("--units", type=int, default=7)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--port", type=int, default=8901)
    args = parser.parse_args()

    env = _env()
    os.environ.update(env)
    listing_id, tokens = _prepare(args.buyers, args.units)
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "marketplace.wsgi:application",
            "--bind",
            f"127.0.0.1:{args.port}",
            "--workers",
            str(args.workers),
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        base = f"http://127.0.0.1:{args.port}"
        for _ in range(100):
            try:
                urllib.request.urlopen(f"{base}/healthz", timeout=1)
                break
            except OSError:
                time.sleep(0.1)
        # Warm every worker's connection so the race measures purchases, not connects.
        for _ in range(args.workers * 4):
            urllib.request.urlopen(f"{base}/readyz", timeout=5)
        statuses: list[int] = []
        barrier = threading.Barrier(len(tokens) + 1)
        threads = [
            threading.Thread(
                target=_buy, args=(f"{base}/api/v1/orders", t, listing_id, barrier, statuses)
            )
            for t in tokens
        ]
        for thread in threads:
            thread.start()
        barrier.wait()
        started = time.perf_counter()
        for thread in threads:
            thread.join()
        elapsed = time.perf_counter() - started
    finally:
        server.terminate()
        server.wait()
    print(
        f"{len(tokens)} concurrent purchases of {args.units} units, "
        f"{args.workers} gunicorn workers:"
    )
    print(
        f"  wall time {elapsed * 1000:.0f} ms, statuses {dict(sorted(Counter(statuses).items()))}"
    )


if __name__ == "__main__":
    main()

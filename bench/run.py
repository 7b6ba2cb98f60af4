"""Throughput and latency of Agora's main paths on gunicorn + PostgreSQL (issue 6).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/agora_bench REDIS_URL=redis://127.0.0.1:6379/3 \
        .venv/bin/python bench/run.py [--seconds 10] [--connections 32] [--workers 5]

Needs `wrk` (apt-get install wrk) and PostgreSQL's `pgbench`. It creates the database if
missing, migrates, seeds a catalogue (one hot listing, 1,000 listings to spread purchases
over, a buyer with 20 tokens, 20,000 past orders) and ANALYZEs it, starts gunicorn with
gunicorn.conf.py, and loads it from wrk, a separate process on loopback, one scenario after
another. Then it measures the raw ceiling: the same purchase transaction as plain SQL through
pgbench at its best concurrency (1, 2, 4 and 8 clients, the fastest kept: at 32 clients they
mostly queue on the row lock). It prints Markdown tables (requests/s, p50, p99, errors; CPU
per request by process) for docs/benchmarks.md. Not part of the test suite: figures depend
on the machine and on what else runs on it.
"""

import argparse
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import cpu_share  # bench/cpu_share.py, next to this file

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SPREAD_LISTINGS = 1000
BROWSE_PAGE = 50
BIG_STOCK = 2_000_000_000  # never sells out during a run
HISTORY_PER_LISTING = 20  # past orders per spread listing, so no run starts on empty tables
HISTORY_BUYERS = 200  # who placed them: a store's many buyers, not one


@dataclass(frozen=True)
class Catalogue:
    hot_listing: int
    spread_listings: list[int]
    buyer_id: int
    buyer_token: str
    reader_token: str


@dataclass(frozen=True)
class Result:
    name: str
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    errors: int
    requests: int
    cpu_ms: dict[str, float] = field(default_factory=dict)  # per request, by part


def _env(port: int) -> dict[str, str]:
    from tokens_vault.keyring import generate_key_entry

    env = dict(os.environ)
    env.setdefault("SECRET_KEY", secrets.token_urlsafe(50))
    env.setdefault("VAULT_KEYS", generate_key_entry("bench"))
    env.update(
        DEBUG="false",
        SECURE_SSL_REDIRECT="false",
        DJANGO_SETTINGS_MODULE="marketplace.settings",
        ALLOWED_HOSTS="127.0.0.1",
        HOST="127.0.0.1",
        PORT=str(port),
        # The limiter's code path runs on every request (one cache round trip); the limit
        # itself is set out of reach, since wrk is one client hammering on purpose.
        API_RATE_LIMIT=os.environ.get("API_RATE_LIMIT", "100000000/min"),
    )
    return env


def _ensure_database(url: str) -> None:
    import psycopg

    name = url.rsplit("/", 1)[1]
    admin = url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')


def _seed() -> Catalogue:
    import django

    django.setup()
    from django.core.management import call_command

    from accounts.models import User
    from accounts.services import api_session_create
    from listings.models import Listing
    from listings.services import ListingDetails, listing_create
    from orders.services import order_create

    call_command("migrate", verbosity=0)
    run = secrets.token_hex(4)
    seller = User.objects.create_user(email=f"seller-{run}@bench.test", password=None)
    buyer = User.objects.create_user(email=f"buyer-{run}@bench.test", password=None)
    reader = User.objects.create_user(email=f"reader-{run}@bench.test", password=None)

    def listing(name: str) -> int:
        created = listing_create(
            seller=seller,
            details=ListingDetails(
                service_name=name,
                unit_description="per call",
                price_per_unit=Decimal("0.01"),
                description=f"{name}: a benchmark listing",
            ),
            delivery_mode="shared",
            shared_secret=f"bench-secret-{secrets.token_hex(8)}",
            units=1_000_000,
        )
        return created.pk

    hot = listing(f"Hot {run}")
    spread = [listing(f"Spread {run} {i}") for i in range(SPREAD_LISTINGS)]
    Listing.objects.filter(pk__in=[hot, *spread]).update(available_units=BIG_STOCK)
    order_create(buyer=reader, listing_id=hot, units=20)  # 20 tokens to list and reveal
    tokens = [
        api_session_create(user=user, ip="127.0.0.1", user_agent="bench").token
        for user in (buyer, reader)
    ]
    history = User.objects.bulk_create(
        User(email=f"history-{run}-{i}@bench.test") for i in range(HISTORY_BUYERS)
    )
    _seed_history([user.pk for user in history], spread)
    return Catalogue(hot, spread, buyer.pk, tokens[0], tokens[1])


# The columns an instant purchase writes, in the order both statements below give them.
ORDER_COLUMNS = """buyer_id, listing_id, units, unit_price, total_price, currency, status,
    payment_path, idempotency_key, request_fingerprint, checkout_session_id, checkout_url,
    payment_intent_id, refund_id, created_at, updated_at, fulfilled_at"""

# Past purchases, written as the fast purchase writes them, by buyers the scenarios never use.
HISTORY = f"""
WITH past AS (
    INSERT INTO orders_order ({ORDER_COLUMNS})
    SELECT (%(buyers)s::bigint[])[1 + (listing.id + n) %% cardinality(%(buyers)s::bigint[])],
           listing.id, 1, price_per_unit, price_per_unit, currency, 'fulfilled', 'instant', '',
           '', '', '', '', '', now(), now(), now()
    FROM listings_listing AS listing, generate_series(1, %(per_listing)s) AS n
    WHERE listing.id = ANY(%(listings)s)
    RETURNING id, buyer_id, listing_id
)
INSERT INTO tokens_vault_token (owner_id, order_id, secret_id, exclusive, created_at)
SELECT past.buyer_id, past.id, listing.shared_secret_id, false, now()
FROM past JOIN listings_listing AS listing ON listing.id = past.listing_id
"""  # noqa: S608 - the only interpolation is the column list above


def _seed_history(buyer_ids: list[int], listing_ids: list[int]) -> None:
    """Give the database what a running marketplace has: orders and tokens, and statistics.

    PostgreSQL on these machines runs with autovacuum off, so nothing ever ANALYZEs. On a new
    database the planner then guessed: the first run after creating it was 15-30% slower,
    because the purchase's UPDATE found its row by scanning every active listing through the
    best-selling index (the estimates tied with the primary key's). ANALYZE alone swaps that
    for another guess, a sequential scan of the orders table in each token's foreign-key
    check, since the table held one order when it was measured. And the history needs many
    buyers: bought by one, the statistics knew two token owners, so the token list's
    prepared (generic) plan expected half the tokens to be the reader's and walked the whole
    table backwards by id to find their 20 (4 ms of PostgreSQL per request).
    """
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            HISTORY,
            {"buyers": buyer_ids, "listings": listing_ids, "per_listing": HISTORY_PER_LISTING},
        )
        cursor.execute("ANALYZE")


def _start_gunicorn(env: dict[str, str], workers: int, log: Path) -> subprocess.Popen[bytes]:
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "-c",
            "gunicorn.conf.py",
            "marketplace.wsgi:application",
        ],
        cwd=ROOT,
        env={**env, "WEB_CONCURRENCY": str(workers)},
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{env['PORT']}/readyz", timeout=1)
            return server
        except (urllib.error.URLError, ConnectionError):
            time.sleep(0.2)
    server.kill()
    raise SystemExit(f"gunicorn did not start; see {log}")


LUA_COMMON = """
done = function(summary, latency, requests)
  io.write(string.format("BENCH %d %d %d %d %.3f %.3f\\n",
    summary.requests, summary.errors.status, summary.errors.connect + summary.errors.read
    + summary.errors.write + summary.errors.timeout, summary.duration,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
"""


def _lua_get(path: str, token: str | None) -> str:
    auth = f'wrk.headers["Authorization"] = "Bearer {token}"\n' if token else ""
    return f'wrk.method = "GET"\nwrk.path = "{path}"\n{auth}' + LUA_COMMON


def _lua_buy(listing_ids: list[int], token: str) -> str:
    ids = ",".join(map(str, listing_ids))
    return (
        f"local ids = {{{ids}}}\n"
        'wrk.headers["Authorization"] = "Bearer ' + token + '"\n'
        'wrk.headers["Content-Type"] = "application/json"\n'
        "request = function()\n"
        "  local id = ids[math.random(#ids)]\n"
        '  return wrk.format("POST", "/api/v1/orders", nil,'
        ' string.format(\'{"listing_id": %d, "units": 1}\', id))\n'
        "end\n" + LUA_COMMON
    )


def _wrk(name: str, script: str, port: int, seconds: int, connections: int) -> Result:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as lua:
        lua.write(script)
    before = cpu_share.snapshot()
    out = subprocess.run(
        ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "-s", lua.name,
         f"http://127.0.0.1:{port}/"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    after = cpu_share.snapshot()
    os.unlink(lua.name)
    match = re.search(r"BENCH (\d+) (\d+) (\d+) (\d+) ([\d.]+) ([\d.]+)", out)
    if not match:
        raise SystemExit(f"{name}: wrk said\n{out}")
    requests, bad_status, socket_errors, duration_us, p50, p99 = match.groups()
    return Result(
        name=name,
        requests_per_second=int(requests) / (int(duration_us) / 1e6),
        p50_ms=float(p50),
        p99_ms=float(p99),
        errors=int(bad_status) + int(socket_errors),
        requests=int(requests),
        cpu_ms=cpu_share.per_request(before, after, int(requests)),
    )


# The purchase as plain SQL, in the app's order: the listing locked first, the stock taken,
# then the order and its token, then COMMIT, which ends the lock.
RAW_PURCHASE = """\\set id {listing}
BEGIN;
SELECT available_units FROM listings_listing WHERE id = :id FOR NO KEY UPDATE;
UPDATE listings_listing SET available_units = available_units - 1,
    units_sold = units_sold + 1, updated_at = now()
    WHERE id = :id;
INSERT INTO orders_order ({columns})
VALUES ({buyer}, :id, 1, 0.01, 0.01, 'USD', 'fulfilled', 'instant', '', '', '', '', '', '',
    now(), now(), now());
INSERT INTO tokens_vault_token (owner_id, order_id, secret_id, exclusive, created_at)
VALUES ({buyer}, currval('orders_order_id_seq'), '{secret}', false, now());
COMMIT;
"""


CEILING_CLIENTS = (1, 2, 4, 8)


def _raw_ceiling(url: str, catalogue: Catalogue, seconds: int) -> Result:
    """The purchase transaction as plain SQL at its best concurrency: one hot row serialises
    every client, so more clients than cores only add queueing and lock hand-offs."""
    runs = [_raw_purchases(url, catalogue, seconds, clients) for clients in CEILING_CLIENTS]
    for run in runs:
        print(f"  {run}", file=sys.stderr)
    return max(runs, key=lambda run: run.requests_per_second)


def _raw_purchases(url: str, catalogue: Catalogue, seconds: int, clients: int) -> Result:
    """The purchase transaction as plain SQL (lock, decrement, order, token), no app."""
    import django

    django.setup()
    from listings.models import Listing

    hot = Listing.objects.get(pk=catalogue.hot_listing)
    with tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False) as script:
        script.write(
            RAW_PURCHASE.format(
                columns=ORDER_COLUMNS,
                listing=hot.pk,
                buyer=catalogue.buyer_id,
                secret=hot.shared_secret_id,
            )
        )
    out = subprocess.run(
        ["pgbench", "-n", "-M", "prepared", f"-c{clients}", f"-j{min(clients, 2)}",
         f"-T{seconds}",
         "-r", "-f", script.name, url],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    os.unlink(script.name)
    tps = _number(r"tps = ([\d.]+)", out)
    latency = _number(r"latency average = ([\d.]+) ms", out)
    failed = int(_number(r"number of failed transactions: (\d+)", out))
    return Result(
        f"raw SQL purchase (pgbench, {clients} clients)",
        tps,
        latency,
        float("nan"),
        failed,
        int(tps * seconds),
    )


def _number(pattern: str, text: str) -> float:
    match = re.search(pattern, text)
    if match is None:
        raise SystemExit(f"pgbench output without {pattern!r}:\n{text}")
    return float(match.group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--workers", type=int, default=5)
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--only", help="run only the scenarios whose name contains this")
    args = parser.parse_args()
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith("postgres"):
        raise SystemExit("set DATABASE_URL=postgres://... (the benchmark measures PostgreSQL)")
    if not shutil.which("wrk"):
        raise SystemExit("needs wrk: apt-get install wrk")
    env = _env(args.port)
    os.environ.update({k: v for k, v in env.items() if k not in ("HOST", "PORT")})
    _ensure_database(url)
    catalogue = _seed()
    log = Path(tempfile.gettempdir()) / "agora-bench-gunicorn.log"
    server = _start_gunicorn(env, args.workers, log)
    scenarios = {
        f"browse {BROWSE_PAGE} listings (anonymous, cached)": _lua_get(
            f"/api/v1/listings?page_size={BROWSE_PAGE}", None
        ),
        "listing detail (anonymous, cached)": _lua_get(
            f"/api/v1/listings/{catalogue.hot_listing}", None
        ),
        "instant purchase, one hot listing": _lua_buy(
            [catalogue.hot_listing], catalogue.buyer_token
        ),
        f"instant purchase over {SPREAD_LISTINGS} listings": _lua_buy(
            catalogue.spread_listings, catalogue.buyer_token
        ),
        "token list with reveal (20 tokens)": _lua_get("/api/v1/tokens", catalogue.reader_token),
    }
    results = []
    try:
        for name, script in scenarios.items():
            if args.only and args.only not in name:
                continue
            _wrk(name, script, args.port, 2, args.connections)  # warm-up
            results.append(_wrk(name, script, args.port, args.seconds, args.connections))
            print(f"  {results[-1]}", file=sys.stderr)
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
    raw = _raw_ceiling(url, catalogue, args.seconds)
    print("| path | requests/s | p50 ms | p99 ms | errors |\n| --- | ---: | ---: | ---: | ---: |")
    for r in results:
        rate = f"{r.requests_per_second:,.0f}"
        print(f"| {r.name} | {rate} | {r.p50_ms:.1f} | {r.p99_ms:.1f} | {r.errors} |")
    print(
        f"| {raw.name} | {raw.requests_per_second:,.0f} | avg {raw.p50_ms:.1f} | | {raw.errors} |"
    )
    print("\nCPU per request, ms (from /proc; bench/cpu_share.py):\n")
    print("| path | app (gunicorn) | PostgreSQL | Redis | wrk | all |\n| --- |" + " ---: |" * 5)
    for r in results:
        parts = [r.cpu_ms[part] for part in (*cpu_share.PARTS, "load generator")]
        print(f"| {r.name} | " + " | ".join(f"{ms:.2f}" for ms in [*parts, sum(parts)]) + " |")
    print()
    for r in results:
        if "purchase" in r.name:
            share = r.requests_per_second / raw.requests_per_second
            print(f"{r.name}: {share:.0%} of the raw-SQL ceiling ({raw.name}).")


if __name__ == "__main__":
    main()

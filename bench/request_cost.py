"""What one request of a main path costs the app, without the server or the network.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/agora_bench REDIS_URL=redis://127.0.0.1:6379/3 \
        .venv/bin/python bench/request_cost.py purchase [--requests 500] [--instructions]

It seeds a catalogue as bench/run.py does, then sends the path's requests straight through
Django's WSGI handler in one process (production settings, after a warm-up) and prints the
wall and CPU time per request. Under load (bench/run.py) a request costs more, since the
server, PostgreSQL and the load generator share the cores, but the app's own share moves with
this figure.

`--instructions` counts the CPU instructions per request under valgrind (callgrind): the
process runs twice, with a short and a long series, and the difference is divided by the
extra requests, so start-up cancels out. Unlike timings, the count repeats to within a
fraction of a percent on a busy machine, which is what telling a 3% change from noise needs
(docs/benchmarks.md). It takes about a minute.
"""

import argparse
import cProfile
import io
import os
import pstats
import re
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import run as harness  # noqa: E402 - bench/run.py, next to this file

WARM_UP = 50
SHORT_SERIES = 100


def _paths(env: dict[str, str]) -> dict[str, tuple[str, str, bytes, str | None]]:
    """Each path's method, URL, body and Bearer token, from the seeded catalogue."""
    buy = f'{{"listing_id": {env["BENCH_SPREAD_FIRST"]}, "units": 1}}'.encode()
    return {
        "purchase": ("POST", "/api/v1/orders", buy, env["BENCH_BUYER_TOKEN"]),
        "browse": ("GET", f"/api/v1/listings?page_size={harness.BROWSE_PAGE}", b"", None),
        "detail": ("GET", f"/api/v1/listings/{env['BENCH_HOT']}", b"", None),
        "tokens": ("GET", "/api/v1/tokens", b"", env["BENCH_READER_TOKEN"]),
        "health": ("GET", "/healthz", b"", None),
    }


def _series(path: str, count: int) -> None:
    """In the child: the warm-up, then `count` requests; prints wall and CPU per request."""
    import django

    django.setup()
    from django.core.handlers.wsgi import WSGIHandler

    handler = WSGIHandler()
    method, url, body, token = _paths(dict(os.environ))[path]
    address, _, query = url.partition("?")

    def environ() -> dict[str, Any]:
        env: dict[str, Any] = {
            "REQUEST_METHOD": method, "PATH_INFO": address, "QUERY_STRING": query,
            "SERVER_NAME": "127.0.0.1", "SERVER_PORT": "8000", "REMOTE_ADDR": "127.0.0.1",
            "HTTP_HOST": "127.0.0.1", "wsgi.url_scheme": "http", "wsgi.input": io.BytesIO(body),
            "CONTENT_LENGTH": str(len(body)), "CONTENT_TYPE": "application/json",
            "wsgi.errors": sys.stderr,
        }  # fmt: skip
        if token:
            env["HTTP_AUTHORIZATION"] = f"Bearer {token}"
        return env

    statuses: list[str] = []

    def start_response(status: str, headers: Any, exc_info: Any = None) -> Callable[..., Any]:
        statuses.append(status)
        return lambda data: None

    def send(n: int) -> None:
        for _ in range(n):
            response = handler(environ(), start_response)
            b"".join(response)
            response.close()

    send(WARM_UP)
    profiler = cProfile.Profile() if os.environ.get("BENCH_PROFILE") else None
    wall, cpu = time.perf_counter(), time.process_time()
    if profiler:
        profiler.runcall(send, count)
    else:
        send(count)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    if profiler:
        pstats.Stats(profiler, stream=sys.stderr).sort_stats("cumulative").print_stats(60)
    if not all(s.startswith("20") for s in statuses):
        raise SystemExit(f"{path}: unexpected statuses {sorted(set(statuses))}")
    print(f"{wall / count * 1000:.3f} ms wall, {cpu / count * 1000:.3f} ms CPU per request")


def _child(path: str, count: int, env: dict[str, str], under_valgrind: bool) -> str:
    """The child's report (stdout, and valgrind's on stderr); its request log is dropped."""
    command = [sys.executable, __file__, path, "--series", str(count)]
    if under_valgrind:
        command = ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", *command]
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(done.stdout + done.stderr[-3000:])
    return done.stdout + done.stderr


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("path", choices=["purchase", "browse", "detail", "tokens", "health"])
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--instructions", action="store_true")
    parser.add_argument(
        "--profile", action="store_true", help="print cProfile's top functions (cumulative)"
    )
    parser.add_argument("--series", type=int, help=argparse.SUPPRESS)  # the child's count
    args = parser.parse_args()
    if args.series is not None:
        _series(args.path, args.series)
        return
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith("postgres"):
        raise SystemExit("set DATABASE_URL=postgres://... (the benchmark measures PostgreSQL)")
    env = harness._env(port=0)
    os.environ.update({k: v for k, v in env.items() if k not in ("HOST", "PORT")})
    harness._ensure_database(url)
    catalogue = harness._seed()
    env.update(
        os.environ,
        BENCH_HOT=str(catalogue.hot_listing),
        BENCH_SPREAD_FIRST=str(catalogue.spread_listings[0]),
        BENCH_BUYER_TOKEN=catalogue.buyer_token,
        BENCH_READER_TOKEN=catalogue.reader_token,
    )
    if args.profile:
        env["BENCH_PROFILE"] = "1"
    if not args.instructions:
        report = _child(args.path, args.requests, env, under_valgrind=False)
        if args.profile:
            print(report)
        print(f"{args.path}: " + re.findall(r".* per request", report)[-1])
        return
    counts = []
    for count in (SHORT_SERIES, SHORT_SERIES + args.requests):
        found = re.search(r"Collected : (\d+)", _child(args.path, count, env, True))
        if found is None:
            raise SystemExit("valgrind reported no instruction count")
        counts.append(int(found.group(1)))
    per_request = (counts[1] - counts[0]) / args.requests
    print(f"{args.path}: {per_request / 1e6:.3f} M instructions per request")


if __name__ == "__main__":
    main()

"""How long a job waits from its commit to its start on an idle worker.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/agora_bench .venv/bin/python \\
        bench/job_latency.py [--jobs 40]

Starts one `manage.py qcluster`, then commits one job at a time, each at a random moment
(up to a second) after the one before started, and prints the median and the slowest wait.
The job records the moment it starts; the enqueuer records the moment its transaction
committed. An idle worker looks at the queue every `poll` seconds (settings.Q_CLUSTER), so
that interval bounds the wait.
"""

import argparse
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import run as harness  # noqa: E402 - bench/run.py, next to this file


def started(path: str) -> None:
    """The job: note when it started."""
    Path(path).write_text(repr(time.time()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--jobs", type=int, default=40)
    args = parser.parse_args()
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith("postgres"):
        raise SystemExit("set DATABASE_URL=postgres://... (the benchmark measures PostgreSQL)")
    env = harness._env(port=0)
    os.environ.update(env)
    harness._ensure_database(url)
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)

    import django

    sys.path.insert(0, str(ROOT / "bench"))
    django.setup()
    from django.db import transaction

    from core.jobs import enqueue

    worker = subprocess.Popen(
        [sys.executable, "manage.py", "qcluster"],
        cwd=ROOT,
        env={**env, "PYTHONPATH": str(ROOT / "bench")},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    waits = []
    try:
        with tempfile.TemporaryDirectory() as folder:
            for n in range(args.jobs + 1):  # the first one warms the worker up
                time.sleep(random.uniform(0, 1))
                mark = Path(folder) / str(n)
                with transaction.atomic():
                    enqueue("job_latency.started", str(mark))
                committed = time.time()
                deadline = time.monotonic() + 30
                while not mark.exists() or not mark.read_text():
                    if time.monotonic() > deadline:
                        raise SystemExit("a job did not start within 30 s")
                    time.sleep(0.005)
                if n:
                    waits.append(float(mark.read_text()) - committed)
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=60)
    print(
        f"commit to start, {len(waits)} jobs on an idle worker: "
        f"median {statistics.median(waits) * 1000:.0f} ms, slowest {max(waits) * 1000:.0f} ms"
    )


if __name__ == "__main__":
    main()

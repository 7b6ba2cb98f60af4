"""gunicorn settings for Agora: `gunicorn -c gunicorn.conf.py marketplace.wsgi:application`.

Sync workers with persistent database connections (CONN_MAX_AGE=60) measured faster here
than gthread or ASGI workers on this workload. The environment chooses only what differs
between deployments: HOST and PORT (bind), WEB_CONCURRENCY (workers), FORWARDED_ALLOW_IPS
(which proxies may declare https), LOG_LEVEL. Anything else can be overridden for one
deployment with GUNICORN_CMD_ARGS (e.g. "--timeout 90"), which gunicorn applies over this file.
"""

import gc
import math
import os
from pathlib import Path
from typing import Any

from gunicorn.glogging import Logger

# A typical ceiling for one machine (gunicorn's docs: 4-12 workers serve thousands of requests
# per second). Each sync worker keeps its own PostgreSQL connection open and its own memory, so
# replicas x workers must also fit the database's max_connections.
MAX_DEFAULT_WORKERS = 12


def _env_int(name: str, default: int, minimum: int, maximum: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"{name} must be a whole number, not {raw!r}") from None
    if not minimum <= value <= maximum:
        raise ValueError(f"{name} must be between {minimum} and {maximum}, not {value}")
    return value


def _usable_cpus() -> int:
    """CPUs this process may run on: its affinity mask, and a cgroup v2 quota when one is set
    (a container started with `--cpus 2` on a 64-core host sees 64 CPUs in os.cpu_count())."""
    affinity = getattr(os, "sched_getaffinity", None)  # Linux; elsewhere all CPUs count
    cpus = len(affinity(0)) if affinity else (os.cpu_count() or 1)
    try:
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()[:2]
        if quota != "max":
            cpus = min(cpus, max(1, math.ceil(int(quota) / int(period))))
    except (OSError, ValueError):
        pass  # no cgroup v2 limit (or not Linux): the affinity mask is the limit
    return max(1, cpus)


def _default_workers(cpus: int) -> int:
    """gunicorn's rule of thumb, 2 x cores + 1: a sync worker waits on PostgreSQL and Stripe
    for much of a request, so more workers than cores keep the CPUs busy."""
    return min(2 * cpus + 1, MAX_DEFAULT_WORKERS)


# --- Where to listen ------------------------------------------------------------------------

# 0.0.0.0 inside a container, where the published port is the boundary; tests and a bare
# machine behind a local proxy set HOST=127.0.0.1.
_host = os.environ.get("HOST", "").strip() or "0.0.0.0"  # noqa: S104 - see above
if ":" in _host and not _host.startswith("["):
    _host = f"[{_host}]"  # an IPv6 address
bind = [f"{_host}:{_env_int('PORT', 8000, 1, 65535)}"]

# --- Workers --------------------------------------------------------------------------------

worker_class = "sync"
# Above 1, gunicorn would silently switch sync workers to gthread: keep the measured model.
threads = 1
workers = _env_int("WEB_CONCURRENCY", _default_workers(_usable_cpus()), 1, 64)

# A worker silent for this long is killed and replaced. Above the worst Stripe call a request
# can make (STRIPE_TIMEOUT_SECONDS 10 x 3 attempts, plus backoff), so a slow Stripe does not
# get a worker killed mid-checkout; below the usual 60 s idle timeout of load balancers.
timeout = 45
# On SIGTERM, in-flight requests get this long to finish. Under Kubernetes' default 30 s grace
# period so gunicorn ends its workers itself; `docker stop` needs `--time 30` to match.
graceful_timeout = 25
# Sync workers close the connection after every response (gunicorn ignores keepalive for
# them); this applies only if GUNICORN_CMD_ARGS switches the worker class.
keepalive = 5

# Replace each worker after 50,000-55,000 requests, so a slow leak (ours or a library's) cannot
# grow forever; the jitter keeps workers started together from restarting together. Not
# fewer: a replacement's first requests are slow, and restarts every few thousand requests
# showed in the p99 of every path (docs/benchmarks.md).
max_requests = 50000
max_requests_jitter = 5000

# Load Django once in the master and fork workers from it: a replacement worker starts in
# milliseconds instead of re-importing the app, and a broken configuration (a missing
# SECRET_KEY) stops the master at once instead of failing in every worker. Safe with database
# connections because Django opens them lazily, on a request's first query, and the master
# never serves requests; pre_fork below closes any connection all the same, so no worker can
# inherit (and share) the master's socket. The redis client re-creates its pool after a fork.
# Cost: a HUP reload does not pick up new code; deploys start new containers anyway.
preload_app = True


def pre_fork(server: object, worker: object) -> None:
    """In the master, before each fork: a database socket shared by two processes would
    interleave their queries, so none may be open when a worker is created.

    It also freezes the garbage collector's view of everything loaded so far (Django, the
    app): those objects live as long as the process, yet each full collection in a worker
    walked all of them, a long pause in the middle of a request. Frozen objects also stay
    untouched, so the fork's shared pages stay shared.
    """
    from django.conf import settings

    if settings.configured:
        from django.db import connections

        connections.close_all()
    gc.freeze()  # last: what the lines above loaded is frozen too


# The heartbeat file each worker touches: in memory, because /tmp on a container's overlay
# filesystem can stall on disk I/O long enough to get healthy workers killed.
worker_tmp_dir = "/dev/shm" if Path("/dev/shm").is_dir() else None  # noqa: S108 - a tmpfs

# --- Logging --------------------------------------------------------------------------------

# The app writes one JSON line per request itself (with its request id); a gunicorn access
# log would repeat each request in another format.
accesslog = None
errorlog = "-"  # stderr, next to the app's own log lines


class RedactingLogger(Logger):
    """gunicorn's logger with the app's redaction filter on its own two loggers, whose lines
    bypass Django's handlers: an access log, if a deployment turns one on (e.g.
    GUNICORN_CMD_ARGS="--access-logfile -"), shows each request line and referrer, where a
    signed checkout link or a `?token=` would otherwise be written out (log_format.py)."""

    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        from core.log_format import RedactSecrets

        for log in (self.error_log, self.access_log):
            if not any(isinstance(f, RedactSecrets) for f in log.filters):
                log.addFilter(RedactSecrets())


logger_class = RedactingLogger
loglevel = os.environ.get("LOG_LEVEL", "info").lower()
proc_name = "agora"

# --- Proxies --------------------------------------------------------------------------------

# Which front ends may set X-Forwarded-Proto (and so make a request count as https). Only from
# the environment, because only the deployment knows its load balancer's addresses; unset, it
# is gunicorn's own default, this machine only. Never "*" unless nothing else can reach us.
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1,::1")

# gunicorn 25.1+ opens a management socket ($HOME/.gunicorn/gunicorn.ctl) by default; nothing
# here uses it, and two servers under one user (tests, bench/) would share its path.
control_socket_disable = True

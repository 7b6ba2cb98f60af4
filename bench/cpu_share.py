"""CPU time each part of the system spent during a load run, from /proc (Linux).

Everything here shares the machine's cores, so requests/s alone does not say what limits a
path; CPU per request for the app (gunicorn), PostgreSQL, Redis and the load generator does.
A process that exits during the run (a gunicorn worker replaced after max_requests) takes
its time with it, so figures can only be low, never high.
"""

import os
import resource
from pathlib import Path

TICKS_PER_SECOND = os.sysconf("SC_CLK_TCK")
PARTS = ("gunicorn", "postgres", "redis")


def _part(pid: Path) -> str | None:
    try:
        command = (pid / "cmdline").read_bytes()
        name = (pid / "comm").read_text().strip()
    except OSError:
        return None
    if b"gunicorn" in command:
        return "gunicorn"
    if name == "postgres":
        return "postgres"
    return "redis" if name.startswith("redis") else None


def snapshot() -> dict[tuple[str, str], float]:
    """Seconds of CPU (user + system) so far of each gunicorn, PostgreSQL and Redis process,
    and of this process's finished children (the load generator)."""
    seconds: dict[tuple[str, str], float] = {}
    for pid in Path("/proc").iterdir():
        if not pid.name.isdigit() or (part := _part(pid)) is None:
            continue
        try:
            fields = (pid / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        seconds[(part, pid.name)] = (int(fields[11]) + int(fields[12])) / TICKS_PER_SECOND
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    seconds[("load generator", "children")] = children.ru_utime + children.ru_stime
    return seconds


def per_request(
    before: dict[tuple[str, str], float], after: dict[tuple[str, str], float], requests: int
) -> dict[str, float]:
    """Milliseconds of CPU per request of each part between two snapshots."""
    spent: dict[str, float] = {}
    for key, seconds in after.items():
        spent[key[0]] = spent.get(key[0], 0.0) + seconds - before.get(key, 0.0)
    return {
        part: spent.get(part, 0.0) * 1000 / max(requests, 1) for part in (*PARTS, "load generator")
    }

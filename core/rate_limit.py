"""Rate limits shared by every app process through the cache (Redis in production): fixed
windows counted atomically (`add` then `incr`), one cache round trip per hit. Used by the API
throttle (core.api_throttle) and the failed-login throttle; settings parse rates here,
so this module imports no models."""

import re
import time
from dataclasses import dataclass

from core.redis_cache import add_and_incr

PERIODS = {"s": 1, "sec": 1, "second": 1, "m": 60, "min": 60, "minute": 60, "h": 3600,
           "hour": 3600, "d": 86400, "day": 86400}  # fmt: skip
RATE_FORMAT = re.compile(r"\s*(\d+)\s*/\s*([a-z]+)\s*")


@dataclass(frozen=True)
class Rate:
    requests: int
    seconds: int


def parse_rate(text: str) -> Rate | None:
    """`600/min` → Rate(600, 60); `off` → None (no limit). Anything else is a startup error."""
    if text.strip().lower() == "off":
        return None
    match = RATE_FORMAT.fullmatch(text.lower())
    if not match or match.group(2) not in PERIODS or int(match.group(1)) < 1:
        raise ValueError(f"a rate looks like '600/min' (or 'off'), not {text!r}")
    return Rate(int(match.group(1)), PERIODS[match.group(2)])


def window(seconds: int) -> tuple[int, int]:
    """The current fixed window's index and the seconds left until it ends."""
    now = int(time.time())
    index = now // seconds
    return index, (index + 1) * seconds - now


def count_hit(key: str, seconds: int, hits: int = 1) -> int:
    """Count `hits` more on `key` for `seconds`; the new total (atomic across processes)."""
    return add_and_incr(key, start=0, timeout=seconds + 1, by=hits)

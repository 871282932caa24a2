"""UTC time in the two forms the wire contract uses.

``utc_us``: integer microseconds since the Unix epoch (for machines).
``utc``: ISO 8601 with microseconds and a ``Z`` (for people and Node-RED).
"""

from __future__ import annotations

import time
from datetime import datetime, timezone


def utc_now_us() -> int:
    return time.time_ns() // 1000


def iso_from_utc_us(utc_us: int) -> str:
    """``1700000000123456`` → ``'2023-11-14T22:13:20.123456Z'``."""
    seconds, micros = divmod(int(utc_us), 1_000_000)
    stamp = datetime.fromtimestamp(seconds, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{stamp}.{micros:06d}Z"


def utc_us_from_iso(text: str) -> int:
    """Inverse of :func:`iso_from_utc_us` (accepts any ISO 8601 with a zone)."""
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        raise ValueError(f"timestamp {text!r} has no time zone")
    delta = moment - datetime(1970, 1, 1, tzinfo=timezone.utc)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds

"""Map the SDK's system clock to UTC.

The samples' ``system_time_stamp`` runs on the host clock behind
``tobii_research.get_system_time_stamp()`` (monotonic, arbitrary epoch).
UTC is ``system_time_us + offset_us``. The offset is measured by probes: read
UTC, read the system clock, read UTC again; the probe with the smallest round
trip bounds the error best (half its round trip), as in NTP's clock filter
(Mills, RFC 5905 §10). It is re-measured periodically, because the wall clock
is disciplined by NTP and the monotonic clock is not.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

Probe = tuple[int, int, int]  # (utc before, system clock, utc after), all µs


@dataclass(frozen=True, slots=True)
class ClockOffset:
    offset_us: int  # utc_us = system_time_us + offset_us
    round_trip_us: int  # of the best probe; the error is at most half of it
    measured_utc_us: int

    def to_utc_us(self, system_time_us: int) -> int:
        return system_time_us + self.offset_us

    def to_system_us(self, utc_us: int) -> int:
        return utc_us - self.offset_us


def best_offset(probes: Iterable[Probe]) -> ClockOffset:
    """The offset from the probe with the smallest round trip."""
    best: Probe | None = None
    for probe in probes:
        before, _, after = probe
        if after < before:
            continue  # the wall clock stepped back during the probe: useless
        if best is None or after - before < best[2] - best[0]:
            best = probe
    if best is None:
        raise ValueError("no usable clock probe (the wall clock stepped back during every probe)")
    before, system, after = best
    return ClockOffset(
        offset_us=(before + after) // 2 - system,
        round_trip_us=after - before,
        measured_utc_us=after,
    )


def measure_offset(
    system_clock_us: Callable[[], int],
    *,
    probes: int = 9,
    utc_clock_ns: Callable[[], int] = time.time_ns,
) -> ClockOffset:
    """Probe ``system_clock_us`` against UTC ``probes`` times; keep the best."""
    if probes < 1:
        raise ValueError(f"probes must be at least 1, got {probes}")
    samples = []
    for _ in range(probes):
        before = utc_clock_ns() // 1000
        system = system_clock_us()
        after = utc_clock_ns() // 1000
        samples.append((before, system, after))
    return best_offset(samples)

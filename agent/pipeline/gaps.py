"""Samples lost before they reached the agent: holes in the tracker's own clock.

The SDK drops samples when its stream buffer overflows (a callback that
stalls, a busy computer) and says only that it happened, not how many. The
tracker's ``device_time_stamp`` advances by one sample period per sample, so
a step of more than 1.5 periods is a hole of ``round(step / period) - 1``
samples. Pure: the caller passes the timestamps and the nominal rate.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

GAP_FACTOR = 1.5  # a step longer than this many periods is a hole (jitter stays well below)


class SampleGaps:
    """Follows one continuous stream; :meth:`restart` where the stream was
    interrupted on purpose (stop, reconnection), so that pause is no hole."""

    def __init__(self, frequency_hz: float | None = None) -> None:
        self._period_us: float | None = None
        self._limit_us: float = float("inf")
        self._last_us: int | None = None
        self.set_rate(frequency_hz)

    def set_rate(self, frequency_hz: float | None) -> None:
        """The tracker's nominal rate; None or 0: unknown, no holes are counted."""
        if frequency_hz:
            self._period_us = 1_000_000.0 / frequency_hz
            self._limit_us = GAP_FACTOR * self._period_us
        else:
            self._period_us, self._limit_us = None, float("inf")

    def restart(self) -> None:
        self._last_us = None

    def missing_before(self, device_time_us: int) -> int:
        """Samples missing between the previous sample and this one (usually 0)."""
        last, self._last_us = self._last_us, device_time_us
        if last is None:
            return 0
        step = device_time_us - last
        if step <= self._limit_us or self._period_us is None:
            return 0
        return round(step / self._period_us) - 1

    def missing_in(self, device_time_us: NDArray[np.int64]) -> NDArray[np.int64]:
        """:meth:`missing_before` for each of a run of samples at once."""
        times = np.asarray(device_time_us, dtype=np.int64)
        missing = np.zeros(len(times), dtype=np.int64)
        if len(times) == 0:
            return missing
        last, self._last_us = self._last_us, int(times[-1])
        if self._period_us is None:
            return missing
        steps = np.diff(times, prepend=times[0] if last is None else last)
        holes = steps > self._limit_us
        if holes.any():  # rint: round half to even, as round() in missing_before
            missing[holes] = np.rint(steps[holes] / self._period_us).astype(np.int64) - 1
        return missing

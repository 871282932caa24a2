"""Time of one sample stream: the detector's seconds, the tracker host's clock
and UTC.

The detectors need strictly increasing times. The samples carry the tracker
host's clock (``system_time_us``, the Tobii SDK's monotonic clock) and UTC
(``utc_us`` = ``system_time_us`` + the agent's measured clock offset). UTC can
step when the agent re-measures the offset (or the host's wall clock is set);
the host clock cannot. So the detectors run on the host clock, as seconds
since the stream's first sample, and every time they report is mapped back
to UTC exactly with the offset that was in force for it.
"""

from __future__ import annotations

import bisect

import numpy as np

MAX_OFFSET_CHANGES = 1024  # ~17 h of once-a-minute re-measurements; older ones use the oldest kept


class Timebase:
    def __init__(self, first_system_us: int) -> None:
        self.base_us = int(first_system_us)
        self._change_at: list[int] = []  # system_time_us where an offset starts to apply
        self._offsets: list[int] = []

    def seconds(self, system_us: np.ndarray) -> np.ndarray:
        """Detector time (s) of host-clock times (µs)."""
        return (system_us - self.base_us) / 1e6

    def system_us(self, seconds: float) -> int:
        """Host-clock time (µs) of a detector time; exact for any time :meth:`seconds` produced."""
        return self.base_us + round(seconds * 1e6)

    def note_offsets(self, system_us: np.ndarray, utc_us: np.ndarray) -> None:
        """Remember the UTC offsets of a batch's samples (only where they change)."""
        if system_us.size == 0:
            return
        offsets = utc_us - system_us
        starts = np.flatnonzero(np.diff(offsets)) + 1
        for index in (0, *starts.tolist()):
            offset = int(offsets[index])
            if self._offsets and self._offsets[-1] == offset:
                continue
            self._change_at.append(int(system_us[index]))
            self._offsets.append(offset)
        if len(self._offsets) > MAX_OFFSET_CHANGES:
            del self._change_at[: -MAX_OFFSET_CHANGES]
            del self._offsets[: -MAX_OFFSET_CHANGES]

    def utc_us_of_system(self, system_us: int) -> int:
        if not self._offsets:
            return system_us
        index = max(0, bisect.bisect_right(self._change_at, system_us) - 1)
        return system_us + self._offsets[index]

    def utc_us(self, seconds: float) -> int:
        """UTC (µs) of a detector time."""
        return self.utc_us_of_system(self.system_us(seconds))

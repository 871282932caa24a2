"""Recent event rates of a session (saccades and blinks per minute) for the processor status."""

from __future__ import annotations

from collections import deque

RATE_WINDOW_S = 60.0  # "per minute" over the last minute of samples
MIN_SPAN_S = 10.0  # a younger session has no rate yet


class RecentRate:
    """Events per minute over the last :data:`RATE_WINDOW_S` of sample time (UTC µs of the
    events' ends), or over the session's samples so far if it is younger (at least
    :data:`MIN_SPAN_S`). Survives stream restarts: it counts in UTC, not detector time."""

    def __init__(self, window_s: float = RATE_WINDOW_S) -> None:
        self.window_us = int(window_s * 1e6)
        self._ends: deque[int] = deque()

    def add(self, end_utc_us: int) -> None:
        self._ends.append(end_utc_us)

    def per_min(self, first_utc_us: int | None, now_utc_us: int | None) -> float | None:
        """The rate at ``now_utc_us`` (the newest sample) for a session whose first sample was at
        ``first_utc_us``; ``None`` while the session is shorter than :data:`MIN_SPAN_S`."""
        if first_utc_us is None or now_utc_us is None:
            return None
        since = now_utc_us - self.window_us
        ends = self._ends
        while ends and ends[0] <= since:
            ends.popleft()
        span_us = min(self.window_us, now_utc_us - first_utc_us)
        if span_us < MIN_SPAN_S * 1e6:
            return None
        return round(sum(1 for end in ends if end <= now_utc_us) * 60e6 / span_us, 2)

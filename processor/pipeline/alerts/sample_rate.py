"""``sample_rate_low``: the observed sample rate well below the tracker's.

Samples are counted in consecutive windows of ``sample_rate_window_s`` of
sample time; at the end of each window the observed rate (samples / window)
is compared with ``sample_rate_low_ratio`` x the tracker's nominal rate.
Raised (and cleared) at the sample that closes the window. A pause longer
than a window (the agent was stopped, batches went missing: both reported
elsewhere) restarts the count instead of counting as a low rate.
"""

from __future__ import annotations

import numpy as np

from gazewire.wire.messages import Alert
from gazewire.processor.pipeline.alerts.condition import TIME_TOLERANCE_S, Condition, UtcOf, keep


class SampleRateLow:
    def __init__(self, session: str, window_s: float, ratio: float) -> None:
        self.window_s = window_s
        self.ratio = ratio
        self.condition = Condition(session, "sample_rate_low", "warning")
        self.observed_hz: float | None = None
        self._start: float | None = None
        self._count = 0
        self._last: float | None = None

    def samples(self, t_s: np.ndarray, nominal_hz: float | None, utc_of: UtcOf) -> list[Alert]:
        alerts: list[Alert] = []
        window = self.window_s
        start, count, last = self._start, self._count, self._last
        if (
            start is not None
            and last is not None
            and t_s.size
            and float(t_s[0]) - last <= window
            and float(t_s[-1]) < start + window - TIME_TOLERANCE_S
        ):  # the usual case: the samples only count, inside the window (and no pause in them)
            self._count = count + int(t_s.size)
            self._last = float(t_s[-1])
            return alerts
        for t in t_s.tolist():
            if start is None or (last is not None and t - last > window):
                start, count = t, 0
            while t >= start + window - TIME_TOLERANCE_S:
                self.observed_hz = count / window
                if nominal_hz:
                    alerts += self._judge(self.observed_hz, nominal_hz, t, utc_of)
                start += window
                count = 0
            count += 1
            last = t
        self._start, self._count, self._last = start, count, last
        return alerts

    def _judge(self, observed: float, nominal: float, t: float, utc_of: UtcOf) -> list[Alert]:
        details = {
            "observed_hz": round(observed, 3),
            "nominal_hz": nominal,
            "window_s": self.window_s,
            "ratio": self.ratio,
        }
        if observed < self.ratio * nominal:
            return keep(self.condition.raise_(utc_of(t), details))
        return keep(self.condition.clear(utc_of(t), {"observed_hz": round(observed, 3)}))

    def interrupt(self, reason: str, utc_of: UtcOf | None) -> list[Alert]:
        """The stream stopped: restart counting, clear if raised (at the last sample)."""
        alerts: list[Alert] = []
        if self.condition.active and utc_of is not None and self._last is not None:
            alerts += keep(self.condition.clear(utc_of(self._last), {"reason": reason}))
        self._start, self._count, self._last = None, 0, None
        return alerts

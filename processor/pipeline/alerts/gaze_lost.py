"""``gaze_lost``: no valid gaze for ``gaze_lost_s`` while the agent is tracking.

The tracker runs but sees no eye: the participant looked away, turned, left.
Raised at the first sample that makes the invalid stretch reach the
threshold; cleared at the next valid sample, or when the stream stops (the
agent is no longer tracking, batches went missing, the stream ended) - then
at the last sample seen.
"""

from __future__ import annotations

import numpy as np

from gazewire.wire.messages import Alert
from gazewire.processor.pipeline.alerts.condition import TIME_TOLERANCE_S, Condition, UtcOf, keep


class GazeLost:
    def __init__(self, session: str, threshold_s: float) -> None:
        self.threshold_s = threshold_s
        self.condition = Condition(session, "gaze_lost", "warning")
        self._lost_since: float | None = None
        self._last_s: float | None = None

    def samples(self, t_s: np.ndarray, valid: np.ndarray, utc_of: UtcOf) -> list[Alert]:
        alerts: list[Alert] = []
        if t_s.size == 0:
            return alerts
        condition = self.condition
        threshold = self.threshold_s
        lost_since = self._lost_since
        if lost_since is None and valid.all():  # the usual case: nothing lost, nothing to do
            self._last_s = float(t_s[-1])
            return alerts
        for t, ok in zip(t_s.tolist(), valid.tolist()):
            if ok:
                if lost_since is not None:
                    if condition.active:
                        alerts += keep(condition.clear(utc_of(t), {"lost_ms": round((t - lost_since) * 1000.0, 3)}))
                    lost_since = None
            else:
                if lost_since is None:
                    lost_since = t
                if not condition.active and t - lost_since >= threshold - TIME_TOLERANCE_S:
                    alerts += keep(condition.raise_(
                        utc_of(t),
                        {"since_utc_us": utc_of(lost_since), "threshold_ms": round(threshold * 1000.0, 3)},
                    ))
        self._lost_since = lost_since
        self._last_s = float(t_s[-1])
        return alerts

    def may_raise(self, system_us: np.ndarray, valid: np.ndarray) -> bool:
        """Could these samples raise the alert (or is a lost stretch going on)? Conservative: a
        run of invalid samples at least the threshold long (less 50 ms), or one already open."""
        if self._lost_since is not None:
            return True
        if valid.all():
            return False
        invalid = np.flatnonzero(~valid)
        # the runs of invalid samples: where the index jumps, a new run starts
        breaks = np.flatnonzero(np.diff(invalid) > 1)
        firsts = np.concatenate(([invalid[0]], invalid[breaks + 1]))
        lasts = np.concatenate((invalid[breaks], [invalid[-1]]))
        longest_us = int((system_us[lasts] - system_us[firsts]).max())
        return longest_us >= (self.threshold_s - 0.05) * 1e6

    def interrupt(self, reason: str, utc_of: UtcOf | None) -> list[Alert]:
        """The stream stopped or has a hole: forget the invalid stretch, clear if raised."""
        alerts: list[Alert] = []
        if self.condition.active and utc_of is not None and self._last_s is not None:
            lost_ms = (self._last_s - self._lost_since) * 1000.0 if self._lost_since is not None else None
            alerts += keep(self.condition.clear(
                utc_of(self._last_s), {"reason": reason, "lost_ms": None if lost_ms is None else round(lost_ms, 3)}
            ))
        self._lost_since = None
        return alerts

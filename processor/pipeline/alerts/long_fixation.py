"""``long_fixation``: a fixation lasting longer than ``long_fixation_s``.

Raised as soon as the fixation is *certain* to have lasted the threshold: its
start event is out and no end came although the detector has seen samples up
to ``horizon`` (the newest sample time minus the detector's end latency). The
alert's time is the moment the threshold was reached (start + threshold);
cleared at the fixation's last sample. A fixation whose length only becomes
known at its end is raised and cleared together, so every long fixation gets
exactly one of each.
"""

from __future__ import annotations

from dataclasses import dataclass

from gazewire.wire.messages import Alert
from gazewire.processor.pipeline.alerts.condition import TIME_TOLERANCE_S, Condition, UtcOf, keep


@dataclass(slots=True)
class _Open:
    number: int
    start_s: float
    certain_s: float
    x: float | None
    y: float | None


class LongFixation:
    def __init__(self, session: str, threshold_s: float) -> None:
        self.threshold_s = threshold_s
        self.condition = Condition(session, "long_fixation", "info")
        self._open: _Open | None = None

    def started(self, number: int, start_s: float, confirmed_s: float, x: float | None, y: float | None,
                utc_of: UtcOf) -> list[Alert]:
        self._open = _Open(number, start_s, confirmed_s, x, y)
        return self.progress(confirmed_s, utc_of)

    def progress(self, horizon_s: float, utc_of: UtcOf) -> list[Alert]:
        fixation = self._open
        if fixation is None or self.condition.active:
            return []
        fixation.certain_s = max(fixation.certain_s, horizon_s)
        if fixation.certain_s - fixation.start_s < self.threshold_s - TIME_TOLERANCE_S:
            return []
        return keep(self._raise(fixation, utc_of))

    def ended(self, number: int, end_s: float, duration_ms: float, utc_of: UtcOf) -> list[Alert]:
        fixation = self._open
        if fixation is None or fixation.number != number:
            return []
        self._open = None
        alerts: list[Alert] = []
        if not self.condition.active and end_s - fixation.start_s >= self.threshold_s - TIME_TOLERANCE_S:
            alerts += keep(self._raise(fixation, utc_of))
        alerts += keep(self.condition.clear(utc_of(end_s), {"duration_ms": round(duration_ms, 3)}))
        return alerts

    def _raise(self, fixation: _Open, utc_of: UtcOf) -> Alert | None:
        return self.condition.raise_(
            utc_of(fixation.start_s + self.threshold_s),
            {
                "fixation": fixation.number,
                "start_utc_us": utc_of(fixation.start_s),
                "threshold_ms": round(self.threshold_s * 1000.0, 3),
                "x": fixation.x,
                "y": fixation.y,
            },
        )

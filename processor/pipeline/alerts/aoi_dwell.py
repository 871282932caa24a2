"""``aoi_dwell``: gaze in one area of interest longer than its dwell threshold.

Driven by the AOI visits (:mod:`gazewire.processor.pipeline.visits`): raised as soon as a visit
is certain to have lasted the threshold, with the moment the threshold was
reached (visit start + threshold) as its time; cleared when the visit ends, at
the end of its last fixation. A visit whose length only becomes known at its
end is raised and cleared together.
"""

from __future__ import annotations

from gazewire.wire.messages import Alert
from gazewire.processor.pipeline.alerts.condition import TIME_TOLERANCE_S, Condition, UtcOf, keep


class AoiDwell:
    def __init__(self, session: str, aoi: str, threshold_s: float) -> None:
        self.aoi = aoi
        self.threshold_s = threshold_s
        self.condition = Condition(session, "aoi_dwell", "info")

    def progress(self, start_s: float, certain_until_s: float, utc_of: UtcOf) -> list[Alert]:
        if self.condition.active or certain_until_s - start_s < self.threshold_s - TIME_TOLERANCE_S:
            return []
        return keep(self._raise(start_s, utc_of))

    def visit_ended(self, start_s: float, end_s: float, utc_of: UtcOf) -> list[Alert]:
        alerts: list[Alert] = []
        if not self.condition.active and end_s - start_s >= self.threshold_s - TIME_TOLERANCE_S:
            alerts += keep(self._raise(start_s, utc_of))
        alerts += keep(self.condition.clear(utc_of(end_s), {"dwell_ms": round((end_s - start_s) * 1000.0, 3)}))
        return alerts

    def _raise(self, start_s: float, utc_of: UtcOf) -> Alert | None:
        return self.condition.raise_(
            utc_of(start_s + self.threshold_s),
            {
                "aoi": self.aoi,
                "visit_start_utc_us": utc_of(start_s),
                "threshold_ms": round(self.threshold_s * 1000.0, 3),
            },
        )

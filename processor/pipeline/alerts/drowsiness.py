"""``drowsiness``: many blinks, or a long eye closure, within ``drowsiness_window_s``.

Fed the detector's blinks (algorithm ``ivd``: runs of invalid samples longer than the gap
fill-in, i.e. blinks or the eye lost otherwise). The condition at sample time ``T`` looks at
the blinks that ended in the window ``(T - window, T]``:

* **blink rate**: at least ``blink_rate_per_min`` blinks per minute in the window. Judged only
  once the stream has lasted a whole window (two blinks in the first three seconds are not
  40 a minute). Blink rate rises with time on task and fatigue (Stern, Boyer & Schroeder
  1994, *Human Factors* 36, 285-297); at rest people blink about 17 times a minute, 26 in
  conversation, 4.5 when reading (Bentivoglio et al. 1997, *Movement Disorders* 12,
  1028-1034), so the default of 30 is above every one of those means.
* **long eye closure**: a blink of at least ``long_closure_ms`` in the window. Blink duration
  and the share of long closures are the most reliable blink signs of drowsiness (Caffier,
  Erdmann & Ullsperger 2003, *European Journal of Applied Physiology* 89, 319-325); closures
  of 0.5 s and more are the usual lower bound of a microsleep in drowsy-driving research.

The window's one minute is that of PERCLOS, the share of time the eyes are closed over a
minute (Wierwille et al. 1994; Dinges & Grace 1998).

Raised at the end of the blink that makes the condition true, cleared when the window has
moved past the blinks that made it true; both at sample time and only once the detector can
no longer report a blink that would change the decision (``progress(horizon_s)``: the
newest sample time minus the detector's latency bound). One raise and one clear per
occurrence; the stream stopping clears it (at the last time judged).
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

from gazewire.wire.messages import Alert
from gazewire.processor.pipeline.alerts.condition import TIME_TOLERANCE_S, Condition, UtcOf, keep


@dataclass(frozen=True, slots=True)
class _Blink:
    end_s: float
    duration_ms: float


class Drowsiness:
    def __init__(self, session: str, window_s: float, blink_rate_per_min: float, long_closure_ms: float) -> None:
        self.window_s = window_s
        self.blink_rate_per_min = blink_rate_per_min
        self.long_closure_ms = long_closure_ms
        # blinks in a window that make the rate: the smallest whole number >= rate x window
        self._rate_count = max(1, math.ceil(blink_rate_per_min * window_s / 60.0 - 1e-9))
        self.condition = Condition(session, "drowsiness", "warning")
        self._blinks: deque[_Blink] = deque()
        self._start_s: float | None = None  # the stream's first sample
        self._judged_s: float | None = None  # the condition is known up to here

    def stream_started(self, start_s: float) -> None:
        self._start_s = start_s
        self._judged_s = start_s
        self._blinks.clear()

    def blink(self, end_s: float, duration_ms: float) -> None:
        """A blink the detector reported (judged with :meth:`progress`)."""
        self._blinks.append(_Blink(end_s, duration_ms))

    def progress(self, horizon_s: float, utc_of: UtcOf) -> list[Alert]:
        """Judge the condition up to ``horizon_s``: every blink that ended before it is known."""
        if self._judged_s is None or horizon_s <= self._judged_s:
            return []
        alerts: list[Alert] = []
        for moment in self._changes(self._judged_s, horizon_s):
            alerts += self._judge(moment, utc_of)
        self._judged_s = horizon_s
        while self._blinks and self._blinks[0].end_s <= horizon_s - self.window_s - TIME_TOLERANCE_S:
            self._blinks.popleft()
        return alerts

    def interrupt(self, reason: str, utc_of: UtcOf | None) -> list[Alert]:
        """The stream stopped: clear if raised (at the last time judged), forget the blinks."""
        alerts: list[Alert] = []
        if self.condition.active and utc_of is not None and self._judged_s is not None:
            alerts += keep(self.condition.clear(utc_of(self._judged_s), {"reason": reason}))
        self._blinks.clear()
        self._start_s = self._judged_s = None
        return alerts

    # ------------------------------------------------------------------ judging

    def _changes(self, after_s: float, until_s: float) -> list[float]:
        """The moments in ``(after_s, until_s]`` at which the condition can change: blink ends,
        blink ends plus the window, and the moment the stream has lasted a window."""
        window = self.window_s
        moments = {b.end_s for b in self._blinks} | {b.end_s + window for b in self._blinks}
        if self._start_s is not None:
            moments.add(self._start_s + window)
        return sorted(m for m in moments if after_s < m <= until_s)

    def _judge(self, moment_s: float, utc_of: UtcOf) -> list[Alert]:
        window = self.window_s
        inside = [b for b in self._blinks if moment_s - window + TIME_TOLERANCE_S < b.end_s <= moment_s + TIME_TOLERANCE_S]
        long_closures = [b for b in inside if b.duration_ms >= self.long_closure_ms]
        full_window = self._start_s is not None and moment_s - self._start_s >= window - TIME_TOLERANCE_S
        too_many = full_window and len(inside) >= self._rate_count
        per_min = round(len(inside) * 60.0 / window, 3)
        if long_closures or too_many:
            reason = "long_closure" if long_closures else "blink_rate"
            return keep(self.condition.raise_(
                utc_of(moment_s),
                {
                    "reason": reason,
                    "blinks_per_min": per_min,
                    "long_closures": len(long_closures),
                    "longest_closure_ms": round(max((b.duration_ms for b in inside), default=0.0), 3),
                    "window_s": window,
                    "blink_rate_per_min": self.blink_rate_per_min,
                    "long_closure_ms": self.long_closure_ms,
                },
            ))
        return keep(self.condition.clear(utc_of(moment_s), {"blinks_per_min": per_min}))

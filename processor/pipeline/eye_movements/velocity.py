"""Angular velocity over a centred time window, streaming.

Olsen, A. (2012). *The Tobii I-VT Fixation Filter: Algorithm description*, section
"Velocity calculator": the velocity of a sample is the visual angle between the first and the
last sample of a window of ``window_s`` centred on it, divided by the time
between those two samples. Olsen converts the window length to a number of samples from the
nominal sampling frequency, so that e.g. at 500 Hz a 20 ms window spans 10 sample intervals
(5 samples on each side), at 1200 Hz 24 intervals, and at 60 Hz - where 20 ms is shorter than
two sample intervals - the window still takes one sample on each side.

Window rule used here (robust to timestamp jitter and dropped samples, needs no nominal rate):
with ``h = window_s / 2`` the window of sample ``i`` reaches

* to the right, up to the sample *nearest* to ``t_i + h``: sample ``k > i`` is inside when the
  midpoint ``(t[k-1] + t[k]) / 2 <= t_i + h``;
* to the left, down to the sample nearest to ``t_i - h``: sample ``k < i`` is inside when
  ``(t[k] + t[k+1]) / 2 >= t_i - h``;
* and always to at least one sample on each side when the segment has one.

For regular sampling at frequency ``f`` this is a window of ``round(h f)`` samples on each side
(at least 1), i.e. Olsen's sample-count window, and it never crosses a segment break (unfilled
gap). At the ends of a segment the window is one-sided; a sample alone in its segment gets a
NaN velocity (it cannot be classified as a fixation).

The angle between two samples is the 3-D angle between their gaze directions computed from the
noise-reduced positions (see :mod:`gazewire.processor.pipeline.eye_movements.geometry`).

Look-ahead: the samples up to ``t_i + h`` plus one more sample to know the window is complete
(6 samples = 12 ms at 500 Hz, 13 samples = 10.8 ms at 1200 Hz, 2 samples = 33 ms at 60 Hz).
"""

from __future__ import annotations

import math

from .geometry import direction_angle_deg, gaze_direction

__all__ = ["VelocityWindow"]

_TRIM_EVERY = 512


class VelocityWindow:
    """Streaming centred-window angular velocity (deg/s) of each sample of each segment.

    Input items: smoothed samples ``(t, x, y, extra, x_filtered, y_filtered)`` or segment ends
    (invalid samples / breaks, passed through). Output items for valid samples:
    ``(t, x, y, extra, velocity_deg_s)``.

    State: the samples of the current segment from the left edge of the oldest pending window
    on (about ``window_s`` worth of samples, plus at most 512 already-used ones awaiting trim).
    """

    __slots__ = ("_base", "_dx", "_dy", "_items", "_left", "_next", "_right", "_t", "half_s")

    def __init__(self, window_s: float) -> None:
        self.half_s = window_s / 2.0
        self._t: list[float] = []
        self._dx: list[float] = []
        self._dy: list[float] = []
        self._items: list[tuple] = []
        self._base = 0  # segment index of the first buffered sample
        self._next = 0  # segment index of the next sample to emit
        self._left = 0  # segment index of the current left edge
        self._right = 0  # segment index of the current right edge (candidate)

    @property
    def buffered(self) -> int:
        return len(self._t)

    def push(self, item: tuple | None, out: list) -> None:
        if item is None or item[1] is None:
            self._end_segment(out)
            out.append(item)
            return
        dx, dy = gaze_direction(item[4], item[5])
        self._t.append(item[0])
        self._dx.append(dx)
        self._dy.append(dy)
        self._items.append(item)
        self._advance(out, final=False)

    def flush(self, out: list) -> None:
        self._end_segment(out)

    def _advance(self, out: list, final: bool) -> None:
        ts = self._t
        base = self._base
        last = base + len(ts) - 1  # segment index of the newest sample
        i = self._next
        left = self._left
        right = self._right
        half = self.half_s
        while i <= last:
            ti = ts[i - base]
            limit = ti + half
            right = max(right, i + 1)
            if right > last:
                if not final:
                    break
                right = last  # == i: last sample of the segment
            else:
                while right < last and (ts[right - base] + ts[right + 1 - base]) * 0.5 <= limit:
                    right += 1
                if right == last and not final:
                    break  # the next sample might still belong to the window
            low = ti - half
            while left < i - 1 and (ts[left - base] + ts[left + 1 - base]) * 0.5 < low:
                left += 1
            if left == right:
                velocity = math.nan
            else:
                a = left - base
                b = right - base
                velocity = direction_angle_deg(
                    self._dx[a], self._dy[a], self._dx[b], self._dy[b]
                ) / (ts[b] - ts[a])
            t, x, y, extra = self._items[i - base][:4]
            out.append((t, x, y, extra, velocity))
            i += 1
        self._next = i
        self._left = left
        self._right = right
        # Forget samples no window needs any more (left edges only move forward).
        drop = left - base
        if drop >= _TRIM_EVERY:
            del ts[:drop]
            del self._dx[:drop]
            del self._dy[:drop]
            del self._items[:drop]
            self._base = left

    def _end_segment(self, out: list) -> None:
        if self._t:
            self._advance(out, final=True)
        self._t.clear()
        self._dx.clear()
        self._dy.clear()
        self._items.clear()
        self._base = 0
        self._next = 0
        self._left = 0
        self._right = 0

"""Dispersion-threshold identification (I-DT) as a streaming detector.

Salvucci, D. D. & Goldberg, J. H. (2000). Identifying fixations and saccades in eye-tracking
protocols. *Proceedings of the 2000 Symposium on Eye Tracking Research & Applications (ETRA)*,
71-78.

Algorithm (Salvucci & Goldberg, table 5), on the gap-filled signal (same gap fill-in as the
I-VT filter, :mod:`.gapfill`; an unfilled gap ends any fixation and restarts the search):

1. take a window of the next samples that covers the minimum duration (``t_last - t_first >=
   min_duration_ms``);
2. if its dispersion ``(max x - min x) + (max y - min y)`` is at most the threshold, it is a
   fixation: add the following samples while the dispersion stays at most the threshold; the
   fixation ends at the last sample that kept it there, and the search restarts at the sample
   that broke it;
3. otherwise drop the window's first sample and go to 1.

There is no noise reduction, merging or discarding step: every reported fixation lasts at least
``min_duration_ms`` by construction, so it is certain as soon as it is found.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from .gapfill import Item
from .parameters import DetectorParameters, Flag, Number, documented, parameter
from .stats import RunningStats
from .stream import StreamingDetector

__all__ = ["IDTDetector", "IDTParameters"]


@documented
@dataclass(frozen=True)
class IDTParameters(DetectorParameters):
    """Parameters of the I-DT detector.

    Attributes
    ----------
    dispersion_threshold_deg:
        Maximum dispersion ``(max x - min x) + (max y - min y)`` of a fixation (Salvucci &
        Goldberg suggest 0.5-1 deg).
    min_duration_ms:
        Minimum fixation duration (``end - start`` of its samples).
    gap_fill:
        Fill gaps of invalid samples by linear interpolation, as for I-VT.
    max_gap_ms:
        Longest gap filled, as for I-VT.
    """

    dispersion_threshold_deg: float = parameter(
        1.0,
        Number(0, 90, min_inclusive=False),
        "Largest (max x - min x) + (max y - min y) of a fixation. Larger tolerates "
        "more noise but swallows small saccades.",
    )
    min_duration_ms: float = parameter(
        100.0,
        Number(0, 2000, min_inclusive=False),
        "Shortest fixation; a start is published once a window this long is found.",
    )
    gap_fill: bool = parameter(True, Flag(), "Interpolate short gaps of invalid samples, as for I-VT.")
    max_gap_ms: float = parameter(
        75.0, Number(0, 1000, min_inclusive=False), "Longest gap filled in, as for I-VT."
    )


class IDTDetector(StreamingDetector):
    """Streaming I-DT fixation detector (see the module docstring for the algorithm).

    ``feed()`` batches in any sizes give exactly the events of a single pass over the whole
    recording. State: while searching, the samples of the current window (``min_duration_ms``
    worth); inside a fixation only its running sums and extrema.

    Latency: :class:`FixationStarted` is emitted with the sample that completes a window of
    ``min_duration_ms`` with a small enough dispersion (no look-ahead);
    :class:`FixationEnded` with the next sample, the one that breaks the dispersion threshold.
    While samples are invalid, add up to ``max_gap_ms`` to both (the gap fill-in waits to know
    whether the gap will be filled); at an unfilled gap the fixation ends at its last valid
    sample, at :meth:`flush` at its last sample.
    """

    def __init__(self, parameters: IDTParameters | None = None, **overrides: object) -> None:
        if parameters is None:
            parameters = IDTParameters(**overrides)  # type: ignore[arg-type]
        elif overrides:
            raise ValueError("pass either an IDTParameters instance or keyword overrides, not both")
        self.parameters = parameters
        super().__init__(parameters.max_gap_ms / 1000.0, parameters.gap_fill)
        self._threshold = parameters.dispersion_threshold_deg
        self._min_s = parameters.min_duration_ms / 1000.0
        self._window: deque[tuple[float, float, float, tuple[float, ...]]] = deque()
        self._wx: deque[float] = deque()
        self._wy: deque[float] = deque()
        self._fixation: RunningStats | None = None
        self._number = 0

    @property
    def buffered_samples(self) -> int:
        return self._gaps.buffered + len(self._window)

    def _process(self, item: Item) -> None:
        if item is None or item[1] is None:
            self._end_fixation()
            self._window.clear()
            self._wx.clear()
            self._wy.clear()
            return
        t, x, y, extra = item
        fixation = self._fixation
        if fixation is not None:
            spread = (max(fixation.max_x, x) - min(fixation.min_x, x)) + (
                max(fixation.max_y, y) - min(fixation.min_y, y)
            )
            if spread <= self._threshold:
                fixation.add(t, x, y, extra)
                return
            self._end_fixation()
        window = self._window
        wx = self._wx
        wy = self._wy
        window.append(item)  # type: ignore[arg-type]
        wx.append(x)
        wy.append(y)
        while window and t - window[0][0] >= self._min_s:
            if (max(wx) - min(wx)) + (max(wy) - min(wy)) <= self._threshold:
                fixation = RunningStats(len(self._extra_names or ()))
                for sample in window:
                    fixation.add(*sample)
                window.clear()
                wx.clear()
                wy.clear()
                self._fixation = fixation
                self._number = self._take_number()
                self._events.append(fixation.started_event(self._number, self.extra_names))
                return
            window.popleft()
            wx.popleft()
            wy.popleft()

    def _end_fixation(self) -> None:
        if self._fixation is not None:
            self._events.append(self._fixation.ended_event(self._number, self.extra_names))
            self._fixation = None

    def _end_of_stream(self) -> None:
        self._end_fixation()
        self._window.clear()
        self._wx.clear()
        self._wy.clear()

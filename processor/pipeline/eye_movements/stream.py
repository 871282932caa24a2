"""Input handling shared by the streaming detectors: validation, extra columns, gap fill-in."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from numpy.typing import ArrayLike

from .events import MovementEvent
from .gapfill import GapFiller, Item
from .samples_input import checked_batch

__all__ = ["StreamingDetector"]


class StreamingDetector:
    """Base class: validates batches and feeds them, sample by sample, through gap fill-in.

    Subclasses implement :meth:`_process` (one gap-filled stream item, see
    :mod:`gazewire.processor.pipeline.eye_movements.gapfill`) and :meth:`_end_of_stream`, appending events to
    ``self._events``. Every sample goes through exactly the same code whatever the batch it came
    in, which is what makes the output independent of how a recording is split into batches.
    """

    def __init__(self, max_gap_s: float, gap_fill: bool) -> None:
        self._gaps = GapFiller(max_gap_s, gap_fill)
        self._extra_names: tuple[str, ...] | None = None
        self._last_time: float | None = None
        self._events: list[MovementEvent] = []
        self._next_number = 1
        self._items: list[Item] = []

    # -- public API ----------------------------------------------------------------------------

    @property
    def last_time_s(self) -> float | None:
        """Time (s) of the last sample consumed by :meth:`feed`, ``None`` before the first."""
        return self._last_time

    @property
    def extra_names(self) -> tuple[str, ...]:
        """Names of the extra columns (fixed by the first non-empty :meth:`feed`)."""
        return self._extra_names or ()

    @property
    def buffered_samples(self) -> int:
        """Samples currently held back by the detector's windows (bounded, see docstrings)."""
        return self._gaps.buffered

    def feed(
        self,
        t_seconds: ArrayLike,
        x_deg: ArrayLike,
        y_deg: ArrayLike,
        extra: Mapping[str, ArrayLike] | None = None,
    ) -> list[MovementEvent]:
        """Consume a batch of samples and return the events it completed (possibly none).

        Parameters
        ----------
        t_seconds:
            Sample times (s), finite and strictly increasing, also across calls.
        x_deg, y_deg:
            Gaze position in degrees of visual angle (see :mod:`gazewire.processor.pipeline.eye_movements.geometry`);
            NaN (or infinite) in either marks an invalid sample.
        extra:
            Optional extra columns (e.g. normalised screen coordinates), one array per name, of
            the same length; their per-fixation means are reported in the events' ``means``.
            The set of names is fixed by the first non-empty batch (their order does not
            matter). Extra values are gap-filled like the position; NaN values are left out of
            the means.

        Raises
        ------
        ValueError
            On arrays of different lengths or shapes, non-finite or non-increasing time, or extra
            columns that differ from the first batch's. The detector is left unchanged.
        """
        t, x, y, names, columns = checked_batch(
            t_seconds, x_deg, y_deg, extra, extra_names=self._extra_names, last_time=self._last_time
        )
        n = t.shape[0]
        if n == 0:
            return []

        self._extra_names = names
        self._last_time = float(t[-1])
        valid = (np.isfinite(x) & np.isfinite(y)).tolist()
        if columns:
            rows = list(zip(*(c.tolist() for c in columns)))
        else:
            rows = [()] * n
        events: list[MovementEvent] = []
        self._events = events
        items = self._items
        gaps = self._gaps
        process = self._process
        for t_k, x_k, y_k, ok, e_k in zip(t.tolist(), x.tolist(), y.tolist(), valid, rows):
            if ok:
                gaps.push_valid(t_k, x_k, y_k, e_k, items)
            else:
                gaps.push_invalid(t_k, items)
            if items:
                for item in items:
                    process(item)
                items.clear()
        return events

    def flush(self) -> list[MovementEvent]:
        """End of stream: finish everything pending and return the remaining events.

        Open fixations end at their last sample; a fixation waiting for a possible merge is
        final. The detector can be fed again afterwards (time must still increase); the new data
        starts a new segment, nothing is gap-filled, smoothed or merged across the flush.
        Fixation numbers continue.
        """
        events: list[MovementEvent] = []
        self._events = events
        items = self._items
        self._gaps.flush(items)
        for item in items:
            self._process(item)
        items.clear()
        self._end_of_stream()
        return events

    # -- for subclasses ------------------------------------------------------------------------

    def _take_number(self) -> int:
        number = self._next_number
        self._next_number += 1
        return number

    def _process(self, item: Item) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def _end_of_stream(self) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

"""Noise reduction: streaming moving median (or mean) over a fixed number of samples.

Olsen, A. (2012). *The Tobii I-VT Fixation Filter: Algorithm description*, section
"Noise reduction": each sample's position is replaced by the median (default, window 3) or the
mean of the samples in a window centred on it. The filtered position is used only to compute
velocities; fixation positions are averaged over the unfiltered (gap-filled) samples.

At the ends of a segment (start of the stream, around an unfilled gap) the window is shrunk
symmetrically to the samples available on both sides, so the first and last sample of a
segment keep their own position. The filter never reaches across a segment break.

Look-ahead: ``window // 2`` samples (1 sample for the default window of 3).
"""

from __future__ import annotations

from typing import Literal

from .gapfill import Item

__all__ = ["NoiseReduction", "NoiseReductionMethod"]

NoiseReductionMethod = Literal["median", "mean"]

# Output item of this stage for a valid sample: (t, x, y, extra, x_filtered, y_filtered).
Smoothed = tuple[float, float, float, tuple[float, ...], float, float]


def _median(values: list[float]) -> float:
    return sorted(values)[len(values) // 2]  # windows always hold an odd number of samples


def _mean(values: list[float]) -> float:
    return sum(values) / len(values)


class NoiseReduction:
    """Streaming centred moving median/mean over ``window`` (odd) samples of each segment.

    ``method=None`` passes samples through unchanged (``x_filtered = x``). State: the last
    ``window`` samples of the current segment.
    """

    __slots__ = ("_buffer", "_done", "_reduce", "_seen", "half")

    def __init__(self, method: NoiseReductionMethod | None, window: int) -> None:
        if method is None:
            self.half = 0
            self._reduce = _median
        else:
            self.half = window // 2
            self._reduce = _median if method == "median" else _mean
        self._buffer: list[tuple[float, float, float, tuple[float, ...]]] = []
        self._seen = 0  # samples of the current segment received
        self._done = 0  # samples of the current segment emitted

    @property
    def buffered(self) -> int:
        return len(self._buffer)

    def push(self, item: Item, out: list) -> None:
        if item is None or item[1] is None:
            self._end_segment(out)
            out.append(item)
            return
        half = self.half
        if half == 0:
            out.append((item[0], item[1], item[2], item[3], item[1], item[2]))
            return
        buffer = self._buffer
        buffer.append(item)  # type: ignore[arg-type]
        self._seen += 1
        # Sample number q = seen - 1 - half of the segment now has `half` samples after it.
        q = self._seen - 1 - half
        if q >= 0:
            self._emit(q, min(half, q), out)
            if len(buffer) > 2 * half + 1:
                del buffer[0]

    def _emit(self, q: int, h: int, out: list) -> None:
        """Emit sample ``q`` of the segment with a window of ``h`` samples on each side."""
        buffer = self._buffer
        idx = q - (self._seen - len(buffer))  # position of sample q in the buffer
        t, x, y, extra = buffer[idx]
        if h == 0:
            out.append((t, x, y, extra, x, y))
        else:
            window = buffer[idx - h : idx + h + 1]
            reduce = self._reduce
            out.append(
                (t, x, y, extra, reduce([s[1] for s in window]), reduce([s[2] for s in window]))
            )
        self._done = q + 1

    def _end_segment(self, out: list) -> None:
        last = self._seen - 1
        for q in range(self._done, self._seen):
            self._emit(q, min(self.half, q, last - q), out)
        self._buffer.clear()
        self._seen = 0
        self._done = 0

    def flush(self, out: list) -> None:
        self._end_segment(out)

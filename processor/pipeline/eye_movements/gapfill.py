"""Gap fill-in: streaming linear interpolation over short runs of invalid samples.

Olsen, A. (2012). *The Tobii I-VT Fixation Filter: Algorithm description*, section
"Gap fill-in": runs of invalid samples shorter than a maximum gap length are filled by linear
interpolation between the valid samples around them, so that short data losses (e.g. a few
dropped frames) do not split a fixation; longer gaps (blinks, looking away) stay invalid.

Definition used here: the *length of a gap* is the time between the last valid sample before
it and the first valid sample after it (so ``k`` invalid samples at a regular interval ``T``
make a gap of ``(k + 1) T``; 75 ms at 500 Hz fills up to 36 invalid samples). A gap of length
``<= max_gap_s`` is filled: each invalid sample in it gets the position (and extra column
values) linearly interpolated at its own timestamp. A longer gap is not filled and *breaks* the
signal into separate segments. Invalid samples before the first valid sample of a segment
cannot be filled. With ``fill=False`` (Tobii's "gap fill-in" switched off) every invalid sample
breaks the signal.

A jump of the timestamps between two *consecutive valid* samples (samples dropped without
being reported as invalid) breaks the signal when it is longer than ``max_gap_s``, whether or
not filling is on; shorter jumps are bridged (there is nothing to interpolate).

Stream items (shared by all pipeline stages of :mod:`gazewire.processor.pipeline.eye_movements`)
-------------------------------------------------------------------------
* ``(t, x, y, extra)`` - a valid (possibly interpolated) sample; ``extra`` is a tuple of the
  extra column values (empty tuple without extra columns);
* ``(t, None, None, ())`` - an invalid sample (ends a segment, advances time);
* ``None`` - a segment break without a sample (a jump of the timestamps, or end of stream).
"""

from __future__ import annotations

__all__ = ["BREAK", "GapFiller", "Item"]

Item = tuple[float, float | None, float | None, tuple[float, ...]] | None
BREAK: Item = None


class GapFiller:
    """Streaming gap fill-in.

    State: the last valid sample and the timestamps of the invalid samples after it that may
    still be filled - at most ``max_gap_s`` worth of samples. An invalid sample is released
    (as invalid) as soon as it is certain the gap it belongs to is too long, i.e. once it lies
    more than ``max_gap_s`` after the last valid sample; so the look-ahead of this stage is at
    most ``max_gap_s`` and only while data is missing.
    """

    __slots__ = ("_last", "_pending", "fill", "max_gap_s")

    def __init__(self, max_gap_s: float, fill: bool = True) -> None:
        self.max_gap_s = max_gap_s
        self.fill = fill
        self._last: tuple[float, float, float, tuple[float, ...]] | None = None
        self._pending: list[float] = []

    @property
    def buffered(self) -> int:
        """Number of samples held back (bounded by ``max_gap_s`` times the sampling rate)."""
        return len(self._pending)

    def push_valid(
        self, t: float, x: float, y: float, extra: tuple[float, ...], out: list[Item]
    ) -> None:
        last = self._last
        pending = self._pending
        if last is not None:
            t0, x0, y0, e0 = last
            span = t - t0
            if span <= self.max_gap_s:
                for tp in pending:
                    w = (tp - t0) / span
                    xp = x0 + w * (x - x0)
                    yp = y0 + w * (y - y0)
                    if extra:
                        ep = tuple(a + w * (b - a) for a, b in zip(e0, extra))
                    else:
                        ep = extra
                    out.append((tp, xp, yp, ep))
            elif pending:
                for tp in pending:
                    out.append((tp, None, None, ()))
            else:
                out.append(BREAK)
            pending.clear()
        sample = (t, x, y, extra)
        out.append(sample)
        self._last = sample

    def push_invalid(self, t: float, out: list[Item]) -> None:
        last = self._last
        if last is None or not self.fill:
            out.append((t, None, None, ()))
            self._last = None
            return
        pending = self._pending
        pending.append(t)
        if t - last[0] > self.max_gap_s:
            # The next valid sample will be even later: this gap cannot be filled.
            for tp in pending:
                out.append((tp, None, None, ()))
            pending.clear()
            self._last = None

    def flush(self, out: list[Item]) -> None:
        """End of stream: pending invalid samples stay invalid; the next sample starts afresh."""
        for tp in self._pending:
            out.append((tp, None, None, ()))
        self._pending.clear()
        self._last = None
        out.append(BREAK)

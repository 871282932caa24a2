"""Running statistics of a (candidate) fixation: constant-size state, no sample history."""

from __future__ import annotations

import math

from .events import FixationEnded, FixationStarted

__all__ = ["RunningStats"]


class RunningStats:
    """Sums, extrema and bounds of the samples of one fixation candidate.

    Holds O(number of extra columns) floats whatever the fixation's length. Samples must be
    added in time order; :meth:`absorb` appends another, later :class:`RunningStats`. Values are
    accumulated in sample order, so the result does not depend on how a recording was batched.
    """

    __slots__ = (
        "end_s",
        "extra_counts",
        "extra_sums",
        "max_x",
        "max_y",
        "min_x",
        "min_y",
        "n",
        "start_s",
        "sum_x",
        "sum_y",
    )

    def __init__(self, n_extra: int) -> None:
        self.start_s = math.nan
        self.end_s = math.nan
        self.n = 0
        self.sum_x = 0.0
        self.sum_y = 0.0
        self.min_x = math.inf
        self.max_x = -math.inf
        self.min_y = math.inf
        self.max_y = -math.inf
        self.extra_sums = [0.0] * n_extra
        self.extra_counts = [0] * n_extra

    def add(self, t: float, x: float, y: float, extra: tuple[float, ...]) -> None:
        """Append one valid sample (time ``t``, position ``x``, ``y``, extra column values)."""
        if self.n == 0:
            self.start_s = t
        self.end_s = t
        self.n += 1
        self.sum_x += x
        self.sum_y += y
        self.min_x = min(self.min_x, x)
        self.max_x = max(self.max_x, x)
        self.min_y = min(self.min_y, y)
        self.max_y = max(self.max_y, y)
        if extra:
            sums = self.extra_sums
            counts = self.extra_counts
            for k, value in enumerate(extra):
                if not math.isnan(value):
                    sums[k] += value
                    counts[k] += 1

    def absorb(self, later: RunningStats) -> None:
        """Append the samples summarised by ``later`` (which must follow this one in time)."""
        if later.n == 0:
            return
        if self.n == 0:
            self.start_s = later.start_s
        self.end_s = later.end_s
        self.n += later.n
        self.sum_x += later.sum_x
        self.sum_y += later.sum_y
        self.min_x = min(self.min_x, later.min_x)
        self.max_x = max(self.max_x, later.max_x)
        self.min_y = min(self.min_y, later.min_y)
        self.max_y = max(self.max_y, later.max_y)
        for k, value in enumerate(later.extra_sums):
            self.extra_sums[k] += value
            self.extra_counts[k] += later.extra_counts[k]

    @property
    def duration_s(self) -> float:
        """``end_s - start_s`` (0 for a single sample)."""
        return self.end_s - self.start_s

    @property
    def mean_x(self) -> float:
        return self.sum_x / self.n

    @property
    def mean_y(self) -> float:
        return self.sum_y / self.n

    def means(self, names: tuple[str, ...]) -> dict[str, float]:
        """Means of the extra columns, keyed by ``names`` (NaN when a column had no value)."""
        return {
            name: (self.extra_sums[k] / self.extra_counts[k] if self.extra_counts[k] else math.nan)
            for k, name in enumerate(names)
        }

    def started_event(self, number: int, names: tuple[str, ...]) -> FixationStarted:
        return FixationStarted(
            number=number,
            start_s=self.start_s,
            confirmed_s=self.end_s,
            x_deg=self.mean_x,
            y_deg=self.mean_y,
            n_samples=self.n,
            means=self.means(names),
        )

    def ended_event(self, number: int, names: tuple[str, ...]) -> FixationEnded:
        return FixationEnded(
            number=number,
            start_s=self.start_s,
            end_s=self.end_s,
            duration_ms=(self.end_s - self.start_s) * 1000.0,
            x_deg=self.mean_x,
            y_deg=self.mean_y,
            dispersion_deg=(self.max_x - self.min_x) + (self.max_y - self.min_y),
            n_samples=self.n,
            means=self.means(names),
        )

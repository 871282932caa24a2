"""What the streaming detectors emit: eye-movement events (:data:`MovementEvent`).

Every detector emits, per reported fixation, exactly one :class:`FixationStarted` followed
(later, possibly many feeds later) by exactly one :class:`FixationEnded` with the same
``number``. Fixations are numbered per detector from 1 without holes: a candidate that is
discarded (too short) never gets a number and never produces an event.

Positions are in degrees of visual angle (see :mod:`gazewire.processor.pipeline.eye_movements.geometry`), times in
seconds on the caller's clock, durations in milliseconds.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["FixationEnded", "FixationStarted", "MovementEvent"]


@dataclass(frozen=True, slots=True)
class FixationStarted:
    """A fixation became certain: it will be reported and can no longer be discarded.

    Emitted as soon as the fixation has lasted at least the detector's minimum fixation
    duration. Later samples (and, for I-VT, merging with a following fixation) can only extend
    it at its end; ``start_s`` is final.

    Attributes
    ----------
    number:
        Fixation number, per detector, starting at 1.
    start_s:
        Time of the fixation's first sample (s).
    confirmed_s:
        Time of the sample that made the fixation certain: its last sample at the moment its
        duration reached the minimum (s). The event is emitted once the detector has processed
        that sample, i.e. after the detector's look-ahead (see the detector's docstring).
    x_deg, y_deg:
        Mean gaze position of the samples so far (deg).
    n_samples:
        Number of samples so far (gap-filled samples included).
    means:
        Means so far of the extra columns passed to ``feed(extra=...)`` (NaN values ignored;
        NaN if a column has no valid value yet). Empty if no extra columns are used.
    """

    number: int
    start_s: float
    confirmed_s: float
    x_deg: float
    y_deg: float
    n_samples: int
    means: dict[str, float] = field(default_factory=dict, hash=False)


@dataclass(frozen=True, slots=True)
class FixationEnded:
    """A fixation is over and final.

    Attributes
    ----------
    number:
        Same number as the fixation's :class:`FixationStarted`.
    start_s, end_s:
        Times of the fixation's first and last sample (s).
    duration_ms:
        ``(end_s - start_s) * 1000``.
    x_deg, y_deg:
        Mean gaze position over the fixation's samples (deg).
    dispersion_deg:
        ``(max x - min x) + (max y - min y)`` over the fixation's samples (deg), the I-DT
        dispersion of Salvucci & Goldberg (2000).
    n_samples:
        Number of samples in the fixation (gap-filled samples included).
    means:
        Means of the extra columns over the fixation (NaN values ignored; NaN if a column had no
        valid value). Empty if no extra columns are used.
    """

    number: int
    start_s: float
    end_s: float
    duration_ms: float
    x_deg: float
    y_deg: float
    dispersion_deg: float
    n_samples: int
    means: dict[str, float] = field(default_factory=dict, hash=False)


MovementEvent = FixationStarted | FixationEnded
"""What a detector emits. (Not :class:`gazewire.wire.messages.FixationEvent`, the published
message the processor builds from these.)"""

"""What the streaming detectors emit: eye-movement events (:data:`MovementEvent`).

Fixations (every detector): every detector emits, per reported fixation, exactly one
:class:`FixationStarted` followed (later, possibly many feeds later) by exactly one
:class:`FixationEnded` with the same ``number``. Fixations are numbered per detector from 1: a
candidate that is discarded (too short) never gets a number and never produces an event.

Tentative starts (the movement classifier only, ``tentative_starts``): telling a fixation from
slow smooth pursuit takes a few hundred milliseconds, so the classifier may first emit a
:class:`FixationTentative` as soon as a candidate has lasted the minimum duration. It is
followed by either the :class:`FixationStarted` of the same number, with the same values (it
was a fixation; then the :class:`FixationEnded` as always), or a :class:`FixationRetracted`
(it was not: no other event of that number comes, and the number is not used again - the only
holes in the numbering).

Saccades, smooth pursuit and blinks (the movement classifier, :mod:`.classify`, ``"ivd"``):
one :class:`Saccade`, :class:`Pursuit` or :class:`Blink` each, emitted once, when the movement
is over and final; numbered per kind from 1.

Positions are in degrees of visual angle (see :mod:`gazewire.processor.pipeline.eye_movements.geometry`), times in
seconds on the caller's clock, durations in milliseconds (``(end_s - start_s) * 1000`` unless
said otherwise).

Per-sample labels (:func:`.classify.classify_samples`) use the codes of the human-coded data of
Andersson et al. (2017): :data:`FIXATION` 1, :data:`SACCADE` 2, :data:`PSO` 3 (post-saccadic
oscillation), :data:`PURSUIT` 4, :data:`BLINK` 5 (blink or other loss of the eye),
:data:`UNDEFINED` 6 (too short to be a fixation or pursuit).
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = [
    "BLINK",
    "FIXATION",
    "PSO",
    "PURSUIT",
    "SACCADE",
    "UNDEFINED",
    "Blink",
    "FixationEnded",
    "FixationRetracted",
    "FixationStarted",
    "FixationTentative",
    "MovementEvent",
    "Pursuit",
    "Saccade",
]

FIXATION = 1
SACCADE = 2
PSO = 3
PURSUIT = 4
BLINK = 5
UNDEFINED = 6


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
class FixationTentative:
    """A fixation has probably started (movement classifier only): a candidate has lasted the
    minimum fixation duration, but cannot be told from slow smooth pursuit yet.

    Same attributes, and for a fixation the same values, as the :class:`FixationStarted` of the
    same ``number`` that follows unless a :class:`FixationRetracted` does.
    """

    number: int
    start_s: float
    confirmed_s: float
    x_deg: float
    y_deg: float
    n_samples: int
    means: dict[str, float] = field(default_factory=dict, hash=False)


@dataclass(frozen=True, slots=True)
class FixationRetracted:
    """The :class:`FixationTentative` of this ``number`` was no fixation (it was the start of
    smooth pursuit, or a candidate too short). Nothing else of this number comes.

    Attributes
    ----------
    number:
        The tentative start's number.
    start_s:
        Its ``start_s``.
    """

    number: int
    start_s: float


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


@dataclass(frozen=True, slots=True)
class Saccade:
    """A saccade, with the post-saccadic oscillation (PSO) that followed it, if any.

    Attributes
    ----------
    number:
        Saccade number, per classifier, from 1.
    start_s, end_s:
        Times of the saccade's first and last sample (s), PSO not included.
    duration_ms:
        ``(end_s - start_s) * 1000``.
    amplitude_deg:
        Angle between the gaze directions at the first and the last sample (deg).
    peak_velocity_deg_s:
        Highest sample velocity in the saccade (deg/s), measured over the classifier's
        saccade-detection velocity window.
    direction_deg:
        Direction of the movement from the first to the last sample, counter-clockwise from
        rightwards as seen by the viewer: 0 right, 90 up, 180 left, -90 down; in (-180, 180].
    start_x_deg, start_y_deg, end_x_deg, end_y_deg:
        Gaze position at the first and the last sample (deg, y positive downwards as everywhere
        in this package).
    pso_end_s:
        Time of the last sample of the PSO that followed the saccade; ``end_s`` if none.
    pso_duration_ms:
        ``(pso_end_s - end_s) * 1000``; 0 if there was no PSO.
    start_values, end_values:
        Values of the extra columns passed to ``feed(extra=...)`` at the first and the last
        sample (gap-filled). Empty if no extra columns are used.
    """

    number: int
    start_s: float
    end_s: float
    duration_ms: float
    amplitude_deg: float
    peak_velocity_deg_s: float
    direction_deg: float
    start_x_deg: float
    start_y_deg: float
    end_x_deg: float
    end_y_deg: float
    pso_end_s: float
    pso_duration_ms: float
    start_values: dict[str, float] = field(default_factory=dict, hash=False)
    end_values: dict[str, float] = field(default_factory=dict, hash=False)


@dataclass(frozen=True, slots=True)
class Pursuit:
    """A smooth-pursuit segment: the gaze moved steadily, slower than a saccade.

    Attributes
    ----------
    number:
        Pursuit number, per classifier, from 1.
    start_s, end_s, duration_ms:
        First and last sample (s) and ``(end_s - start_s) * 1000``.
    mean_velocity_deg_s:
        Mean over the segment's samples of the smoothed gaze speed the classifier judged them by
        (deg/s): the speed of the least-squares line through each sample's pursuit window.
    amplitude_deg:
        Angle between the gaze directions at the first and the last sample (deg).
    direction_deg:
        Direction from the first to the last sample, as for :class:`Saccade`.
    start_x_deg, start_y_deg, end_x_deg, end_y_deg:
        Gaze position at the first and the last sample (deg).
    n_samples:
        Number of samples (gap-filled samples included).
    start_values, end_values:
        Values of the extra columns at the first and the last sample, as for :class:`Saccade`.
    """

    number: int
    start_s: float
    end_s: float
    duration_ms: float
    mean_velocity_deg_s: float
    amplitude_deg: float
    direction_deg: float
    start_x_deg: float
    start_y_deg: float
    end_x_deg: float
    end_y_deg: float
    n_samples: int
    start_values: dict[str, float] = field(default_factory=dict, hash=False)
    end_values: dict[str, float] = field(default_factory=dict, hash=False)


@dataclass(frozen=True, slots=True)
class Blink:
    """A run of invalid samples too long for gap fill-in: a blink, or the eye lost otherwise.

    Attributes
    ----------
    number:
        Blink number, per classifier, from 1.
    start_s, end_s:
        Times of the first and the last invalid sample of the run (s).
    duration_ms:
        Time from the last valid sample before the run to the first valid sample after it (ms),
        the length of the gap as gap fill-in measures it; at the start or the end of the stream,
        where there is no valid sample on that side, the run's own first/last sample is used.
    n_samples:
        Number of invalid samples in the run.
    """

    number: int
    start_s: float
    end_s: float
    duration_ms: float
    n_samples: int


MovementEvent = (
    FixationStarted | FixationEnded | FixationTentative | FixationRetracted | Saccade | Pursuit | Blink
)
"""What a detector emits (I-VT and I-DT: :class:`FixationStarted` and :class:`FixationEnded`
only). Not :class:`gazewire.wire.messages.FixationEvent`, the published message the processor
builds from these."""

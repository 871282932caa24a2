"""The fixation detector of one sample stream, fed with a batch's samples.

An adapter around :mod:`gazewire.processor.pipeline.eye_movements` (the algorithms live there, not
here): normalised gaze to degrees of visual angle with the display-area size
and each sample's eye distance, the normalised position passed along as extra
columns (so events carry it), and how long after its last sample an event can
come at the latest (:func:`end_latency_bound_s`), which the long-fixation and
AOI-dwell alerts need to know when a fixation is certainly still going on.
"""

from __future__ import annotations

import numpy as np

from gazewire.processor.pipeline.eye_movements import (
    Detector,
    DetectorParameters,
    IDTParameters,
    IVTParameters,
    MovementEvent,
    MovementParameters,
    algorithm_of,
    make_detector,
    normalised_to_degrees,
)

SLOWEST_TRACKER_HZ = 60.0  # Tobii Pro Spark/Nano: the longest sample interval to allow for


def end_latency_bound_s(parameters: DetectorParameters, sample_rate_hz: float | None = None) -> float:
    """Upper bound on how long after a fixation's last sample its end event is emitted.

    From the detectors' documented latency: I-VT waits ``merge_max_gap_ms`` for a
    fixation to merge with, then up to ``min_fixation_ms`` for a candidate to decide,
    plus its classification delay (half the velocity window, the median window) and,
    while samples are invalid, the gap fill-in's ``max_gap_ms``. I-DT ends a fixation
    with the next sample, plus the gap fill-in. I-VD (the movement classifier) ends it with
    the first sample that cannot continue it: see the code. Two samples of slack on top.
    The drowsiness alert uses the same bound for blinks, which I-VD reports as soon as the
    eye is back.
    """
    period_s = 1.0 / (sample_rate_hz or SLOWEST_TRACKER_HZ)
    max_gap_s = parameters.max_gap_ms / 1000.0
    if isinstance(parameters, IDTParameters):
        return max_gap_s + 3 * period_s
    if isinstance(parameters, MovementParameters):
        # A fixation's end is known with the first sample that cannot continue it: a saccade's
        # first sample (half the saccade velocity window later), a blink (once the gap is too
        # long to fill) or pursuit (pursuit_look_ahead_ms later); plus the median's samples.
        return (
            max(parameters.pursuit_look_ahead_ms, parameters.max_gap_ms) / 1000.0
            + parameters.saccade_velocity_window_ms / 2000.0
            + (parameters.noise_reduction_window // 2 + 3) * period_s
        )
    if not isinstance(parameters, IVTParameters):
        raise TypeError(f"no latency bound known for {type(parameters).__name__}")
    return (
        parameters.merge_max_gap_ms / 1000.0
        + parameters.min_fixation_ms / 1000.0
        + parameters.velocity_window_ms / 2000.0
        + max_gap_s
        + (parameters.noise_reduction_window // 2 + 3) * period_s
    )


def to_degrees(
    x: np.ndarray, y: np.ndarray, distance_mm: np.ndarray, width_mm: float, height_mm: float
) -> tuple[np.ndarray, np.ndarray]:
    """Per-sample visual angles, each sample with its own eye distance (element-wise, so a
    sample's angles never depend on the batch it came in)."""
    return normalised_to_degrees(x, y, width_mm, height_mm, distance_mm)


class Detection:
    """A streaming detector plus the unit conversion in front of it.

    What the session needs from detection, and all it needs: :meth:`feed` normalised gaze,
    :meth:`flush` at the end of a stream, :meth:`latency_bound_s`. The detector behind it is
    any :class:`~gazewire.processor.pipeline.eye_movements.Detector`, chosen by the type of
    ``parameters``.
    """

    def __init__(self, parameters: DetectorParameters) -> None:
        self.parameters = parameters
        self.algorithm = algorithm_of(parameters)
        self.detector: Detector = make_detector(self.algorithm, parameters)

    def feed(
        self,
        t_s: np.ndarray,
        x: np.ndarray,
        y: np.ndarray,
        distance_mm: np.ndarray,
        display_mm: tuple[float, float],
    ) -> list[MovementEvent]:
        """Feed normalised gaze (NaN: invalid) at detector times ``t_s``; return the events."""
        x_deg, y_deg = to_degrees(x, y, distance_mm, *display_mm)
        return self.detector.feed(t_s, x_deg, y_deg, extra={"x": x, "y": y})

    def flush(self) -> list[MovementEvent]:
        return self.detector.flush()

    def latency_bound_s(self, sample_rate_hz: float | None) -> float:
        return end_latency_bound_s(self.parameters, sample_rate_hz)

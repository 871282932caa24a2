"""The fixation detector of one sample stream, fed with a batch's samples.

An adapter around :mod:`gazewire.processor.pipeline.eye_movements` (the algorithms live there, not
here): normalised gaze to degrees of visual angle with the display-area size
and each sample's eye distance, the normalised position passed along as extra
columns (so events carry it), and how long after its last sample an event can
come at the latest (:func:`end_latency_bound_s`), which the long-fixation and
AOI-dwell alerts need to know when a fixation is certainly still going on.
"""

from __future__ import annotations

from itertools import pairwise

import numpy as np

from gazewire.processor.pipeline.eye_movements import MovementEvent, make_detector, normalised_to_degrees

SLOWEST_TRACKER_HZ = 60.0  # Tobii Pro Spark/Nano: the longest sample interval to allow for


def end_latency_bound_s(algorithm: str, parameters: dict[str, object], sample_rate_hz: float | None = None) -> float:
    """Upper bound on how long after a fixation's last sample its end event is emitted.

    From the detectors' documented latency: I-VT waits ``merge_max_gap_ms`` for a
    fixation to merge with, then up to ``min_fixation_ms`` for a candidate to decide,
    plus its classification delay (half the velocity window, the median window) and,
    while samples are invalid, the gap fill-in's ``max_gap_ms``. I-DT ends a fixation
    with the next sample, plus the gap fill-in. Two samples of slack on top.
    """
    period_s = 1.0 / (sample_rate_hz or SLOWEST_TRACKER_HZ)
    max_gap_s = float(parameters.get("max_gap_ms", 75.0)) / 1000.0  # type: ignore[arg-type]
    if algorithm == "idt":
        return max_gap_s + 3 * period_s
    window = int(parameters.get("noise_reduction_window", 3))  # type: ignore[call-overload]
    return (
        float(parameters.get("merge_max_gap_ms", 75.0)) / 1000.0  # type: ignore[arg-type]
        + float(parameters.get("min_fixation_ms", 60.0)) / 1000.0  # type: ignore[arg-type]
        + float(parameters.get("velocity_window_ms", 20.0)) / 2000.0  # type: ignore[arg-type]
        + max_gap_s
        + (window // 2 + 3) * period_s
    )


def to_degrees(
    x: np.ndarray, y: np.ndarray, distance_mm: np.ndarray, width_mm: float, height_mm: float
) -> tuple[np.ndarray, np.ndarray]:
    """Per-sample visual angles; runs of equal eye distance are converted together."""
    x_deg = np.empty_like(x)
    y_deg = np.empty_like(y)
    bounds = [0, *(np.flatnonzero(np.diff(distance_mm)) + 1).tolist(), x.size]
    for start, end in pairwise(bounds):
        if start < end:
            x_deg[start:end], y_deg[start:end] = normalised_to_degrees(
                x[start:end], y[start:end], width_mm, height_mm, float(distance_mm[start])
            )
    return x_deg, y_deg


class Detection:
    """A streaming detector plus the unit conversion in front of it."""

    def __init__(self, algorithm: str, parameters: dict[str, object]) -> None:
        self.algorithm = algorithm
        self.parameters = dict(parameters)
        self.detector = make_detector(algorithm, **parameters)

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
        return end_latency_bound_s(self.algorithm, self.parameters, sample_rate_hz)

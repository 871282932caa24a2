"""Per-sample fixation labels, computed through the streaming detectors."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from .events import FixationEnded
from .factory import make_detector

__all__ = ["label_samples"]


def label_samples(
    t_seconds: ArrayLike,
    x_deg: ArrayLike,
    y_deg: ArrayLike,
    algorithm: str = "ivt",
    **parameters: object,
) -> NDArray[np.bool_]:
    """Boolean mask of the samples that belong to a fixation.

    The whole recording is fed in one batch to a streaming detector from
    :func:`~gazewire.processor.pipeline.eye_movements.make_detector` (so the labels are exactly what the online
    processor reports), the detector is flushed, and every sample with
    ``start_s <= t <= end_s`` of a :class:`~gazewire.processor.pipeline.eye_movements.FixationEnded` is marked.

    Parameters
    ----------
    t_seconds, x_deg, y_deg:
        As for ``feed()``: strictly increasing times (s), gaze in degrees, NaN = invalid.
    algorithm:
        ``"ivt"`` (default), ``"idt"`` or ``"ivd"``.
    **parameters:
        Overrides of the algorithm's default parameters.
    """
    t = np.asarray(t_seconds, dtype=np.float64)
    detector = make_detector(algorithm, **parameters)
    events = detector.feed(t, x_deg, y_deg)
    events += detector.flush()
    ended = [e for e in events if isinstance(e, FixationEnded)]
    mask = np.zeros(t.shape[0], dtype=bool)
    if ended:
        starts = np.searchsorted(t, [e.start_s for e in ended], side="left")
        ends = np.searchsorted(t, [e.end_s for e in ended], side="right")
        change = np.zeros(t.shape[0] + 1, dtype=np.int64)
        np.add.at(change, starts, 1)
        np.add.at(change, ends, -1)
        mask = np.cumsum(change[:-1]) > 0
    return mask

"""The eye-to-display distance of every sample, from the tracker's gaze origins.

Tobii reports each eye's position (``*_origin_z`` in mm in its user coordinate
system, the display roughly in the plane z = 0), so the distance of a sample
is the mean z of its valid eyes. A sample without a valid eye keeps the last
known distance; before the first one, the configured default applies.
Distances are rounded to whole millimetres (1 mm at 650 mm changes an angle
by 0.15 %); the result of a sample never depends on how the stream was cut
into batches.
"""

from __future__ import annotations

import numpy as np

PLAUSIBLE_MM = (100.0, 5000.0)  # outside this, an origin is a tracker glitch, not a head position


class EyeDistance:
    def __init__(self, default_mm: float) -> None:
        self.default_mm = float(default_mm)
        self.last_mm: float | None = None

    def per_sample(
        self,
        left_z: np.ndarray,
        left_valid: np.ndarray,
        right_z: np.ndarray,
        right_valid: np.ndarray,
    ) -> np.ndarray:
        """Distance (mm, whole numbers) of each sample; updates the carried-over value."""
        low, high = PLAUSIBLE_MM
        left_ok = left_valid & np.isfinite(left_z) & (left_z >= low) & (left_z <= high)
        right_ok = right_valid & np.isfinite(right_z) & (right_z >= low) & (right_z <= high)
        total = np.where(left_ok, left_z, 0.0) + np.where(right_ok, right_z, 0.0)
        eyes = left_ok.astype(np.int64) + right_ok.astype(np.int64)
        known = eyes > 0
        measured = np.rint(np.divide(total, eyes, out=np.zeros_like(total), where=known))
        carried = self.last_mm if self.last_mm is not None else np.rint(self.default_mm)
        if known.all():
            result = measured
        else:
            # carry the last known value forward over samples without a valid eye
            index = np.where(known, np.arange(known.size), -1)
            np.maximum.accumulate(index, out=index)
            result = np.where(index >= 0, measured[np.maximum(index, 0)], carried)
        if known.any():
            self.last_mm = float(measured[np.flatnonzero(known)[-1]])
        return result

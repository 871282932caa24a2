"""Combine the two eyes of one SDK gaze sample into one gaze position.

Both eyes valid → their average; one valid → that eye; none → an invalid
sample. An eye counts as valid when the SDK's ``gaze_point_validity`` is 1
and its coordinates are finite (a defensive check: the SDK never reports a
valid NaN, a replayed file might).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from gazewire.agent.inputs.sdk import GazeDict

EyeOrNone = Literal["both", "left", "right", "none"]


@dataclass(frozen=True, slots=True)
class CombinedGaze:
    x: float  # NaN when no eye is valid
    y: float
    eye: EyeOrNone
    left_pupil: float | None
    right_pupil: float | None
    pupil: float | None

    @property
    def valid(self) -> bool:
        return self.eye != "none"


def _eye_point(sample: GazeDict, side: str) -> tuple[float, float] | None:
    if sample[f"{side}_gaze_point_validity"] != 1:
        return None
    x, y = sample[f"{side}_gaze_point_on_display_area"]
    if not (math.isfinite(x) and math.isfinite(y)):
        return None
    return float(x), float(y)


def _pupil(sample: GazeDict, side: str) -> float | None:
    if sample[f"{side}_pupil_validity"] != 1:
        return None
    diameter = sample[f"{side}_pupil_diameter"]
    return float(diameter) if math.isfinite(diameter) and diameter > 0 else None


def combine_eyes(sample: GazeDict) -> CombinedGaze:
    left, right = _eye_point(sample, "left"), _eye_point(sample, "right")
    left_pupil, right_pupil = _pupil(sample, "left"), _pupil(sample, "right")
    valid_pupils = [p for p in (left_pupil, right_pupil) if p is not None]
    pupil = sum(valid_pupils) / len(valid_pupils) if valid_pupils else None
    if left is not None and right is not None:
        x, y, eye = (left[0] + right[0]) / 2, (left[1] + right[1]) / 2, "both"
    elif left is not None:
        (x, y), eye = left, "left"
    elif right is not None:
        (x, y), eye = right, "right"
    else:
        x, y, eye = math.nan, math.nan, "none"
    return CombinedGaze(x, y, eye, left_pupil, right_pupil, pupil)  # type: ignore[arg-type]

"""Combine the two eyes of one SDK gaze sample into one gaze position.

Both eyes valid → their average; one valid → that eye; none → an invalid
sample. An eye counts as valid when the SDK's ``gaze_point_validity`` is 1
and its coordinates are finite (a defensive check: the SDK never reports a
valid NaN, a replayed file might).

:func:`combine_eyes` does one SDK dictionary (the live view's sample);
:func:`combine_columns` does a run of samples as arrays (the pipeline), with the
same arithmetic, so both give the same numbers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from gazewire.agent.inputs.sdk import GazeDict
from gazewire.agent.pipeline.columns import EyeColumns

EyeOrNone = Literal["both", "left", "right", "none"]
# The eye of a combined sample by its code: (left valid) + 2 × (right valid).
EYE_NAMES: tuple[EyeOrNone, ...] = ("none", "left", "right", "both")


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


@dataclass(frozen=True, slots=True)
class CombinedColumns:
    """The combined gaze of a run of samples: NaN where no eye is valid."""

    x: NDArray[np.float64]
    y: NDArray[np.float64]
    eye: NDArray[np.int8]  # the index into EYE_NAMES: 0 none, 1 left, 2 right, 3 both

    @classmethod
    def of(cls, gaze: CombinedGaze) -> CombinedColumns:
        """One combined sample as a run of one."""
        return cls(np.array([gaze.x]), np.array([gaze.y]), np.array([EYE_NAMES.index(gaze.eye)], dtype=np.int8))

    def eye_names(self) -> list[EyeOrNone]:
        return [EYE_NAMES[code] for code in self.eye.tolist()]


def _valid_points(eye: EyeColumns) -> NDArray[np.bool_]:
    return (eye.point_validity == 1) & np.isfinite(eye.point).all(axis=1)


def combine_columns(left: EyeColumns, right: EyeColumns) -> CombinedColumns:
    """:func:`combine_eyes` for every sample of a run at once."""
    left_valid, right_valid = _valid_points(left), _valid_points(right)
    both = left_valid & right_valid
    with np.errstate(invalid="ignore"):  # NaN + NaN where an eye is invalid: not chosen below
        average = (left.point + right.point) / 2
    point = np.where(
        both[:, None], average, np.where(left_valid[:, None], left.point, np.where(right_valid[:, None], right.point, math.nan))
    )
    eye = left_valid.astype(np.int8) + 2 * right_valid.astype(np.int8)
    return CombinedColumns(point[:, 0], point[:, 1], eye)

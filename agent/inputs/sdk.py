"""The Tobii Pro SDK's gaze dictionary (``as_dictionary=True``), as data.

Every tracker source hands the agent dictionaries with exactly these keys,
so the simulated and replayed trackers run through the same combine path as
the real one. See ../shared/reference/tobii-research-sdk.md.
"""

from __future__ import annotations

import math
from typing import Any

GazeDict = dict[str, Any]

EYE_KEYS: tuple[str, ...] = (
    "gaze_point_on_display_area",  # (x, y) normalised, NaN when invalid
    "gaze_point_in_user_coordinate_system",  # (x, y, z) mm
    "gaze_point_validity",  # 0/1
    "pupil_diameter",  # mm, NaN when invalid
    "pupil_validity",  # 0/1
    "gaze_origin_in_user_coordinate_system",  # (x, y, z) mm
    "gaze_origin_validity",  # 0/1
)

GAZE_KEYS: tuple[str, ...] = (
    "device_time_stamp",
    "system_time_stamp",
    *(f"left_{key}" for key in EYE_KEYS),
    *(f"right_{key}" for key in EYE_KEYS),
)

NAN = math.nan
INVALID_EYE: dict[str, Any] = {
    "gaze_point_on_display_area": (NAN, NAN),
    "gaze_point_in_user_coordinate_system": (NAN, NAN, NAN),
    "gaze_point_validity": 0,
    "pupil_diameter": NAN,
    "pupil_validity": 0,
    "gaze_origin_in_user_coordinate_system": (NAN, NAN, NAN),
    "gaze_origin_validity": 0,
}


def invalid_gaze(device_time_us: int, system_time_us: int) -> GazeDict:
    """A sample in which neither eye is valid (blink, look-away)."""
    sample: GazeDict = {"device_time_stamp": device_time_us, "system_time_stamp": system_time_us}
    for side in ("left", "right"):
        for key, value in INVALID_EYE.items():
            sample[f"{side}_{key}"] = value
    return sample


def missing_keys(sample: GazeDict) -> list[str]:
    return [key for key in GAZE_KEYS if key not in sample]

"""A run of SDK gaze dictionaries as columns: what the pipeline works on.

The SDK hands the agent one dictionary per sample, and the agent's callback only
queues it. The pipeline takes what the queue holds at each tick and turns the run
into numpy columns here, once (one list per key), so that combining the eyes,
UTC, the holes in the device clock, the batch and the CSV rows are array
operations rather than Python per sample. Pure: no I/O.

A sample that is not what the SDK documents (a key missing, a tuple of the wrong
length, something that is not a number) makes :meth:`GazeColumns.from_samples`
raise ``ValueError`` naming the key; the pipeline then sorts the run sample by
sample and counts the malformed ones.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from gazewire.agent.inputs.sdk import GazeDict

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

# The EyeColumns field of each of the SDK's per-eye keys (gazewire.agent.inputs.sdk.EYE_KEYS).
EYE_FIELDS: dict[str, str] = {
    "gaze_point_on_display_area": "point",
    "gaze_point_in_user_coordinate_system": "point_in_user",
    "gaze_point_validity": "point_validity",
    "pupil_diameter": "pupil",
    "pupil_validity": "pupil_validity",
    "gaze_origin_in_user_coordinate_system": "origin",
    "gaze_origin_validity": "origin_validity",
}


@dataclass(frozen=True, slots=True)
class EyeColumns:
    """One eye's seven SDK keys; tuples are (n, 2) or (n, 3) arrays."""

    point: FloatArray  # gaze_point_on_display_area (x, y), normalised; NaN when invalid
    point_in_user: FloatArray  # gaze_point_in_user_coordinate_system (x, y, z) mm
    point_validity: IntArray
    pupil: FloatArray  # pupil_diameter mm; NaN when invalid
    pupil_validity: IntArray
    origin: FloatArray  # gaze_origin_in_user_coordinate_system (x, y, z) mm
    origin_validity: IntArray

    @classmethod
    def from_samples(cls, samples: Sequence[GazeDict], side: str) -> EyeColumns:
        return cls(
            point=_numbers(samples, f"{side}_gaze_point_on_display_area", 2),
            point_in_user=_numbers(samples, f"{side}_gaze_point_in_user_coordinate_system", 3),
            point_validity=_integers(samples, f"{side}_gaze_point_validity"),
            pupil=_numbers(samples, f"{side}_pupil_diameter"),
            pupil_validity=_integers(samples, f"{side}_pupil_validity"),
            origin=_numbers(samples, f"{side}_gaze_origin_in_user_coordinate_system", 3),
            origin_validity=_integers(samples, f"{side}_gaze_origin_validity"),
        )


@dataclass(frozen=True, slots=True)
class GazeColumns:
    """``n`` SDK gaze samples, key by key, in their order."""

    device_time_us: IntArray
    system_time_us: IntArray
    left: EyeColumns
    right: EyeColumns

    def __len__(self) -> int:
        return len(self.device_time_us)

    @classmethod
    def from_samples(cls, samples: Sequence[GazeDict]) -> GazeColumns:
        """The columns of ``samples`` (at least one). Raises ``ValueError`` (or ``KeyError``,
        ``TypeError``) when a sample is malformed; nothing is kept then."""
        if not samples:
            raise ValueError("no samples")
        return cls(
            device_time_us=_integers(samples, "device_time_stamp"),
            system_time_us=_integers(samples, "system_time_stamp"),
            left=EyeColumns.from_samples(samples, "left"),
            right=EyeColumns.from_samples(samples, "right"),
        )


def _values(samples: Sequence[GazeDict], key: str) -> np.ndarray:
    try:
        return np.asarray([sample[key] for sample in samples])
    except (TypeError, ValueError) as error:  # e.g. tuples of different lengths
        raise ValueError(f"{key}: {error}") from None


def _numbers(samples: Sequence[GazeDict], key: str, width: int | None = None) -> FloatArray:
    values = _values(samples, key)
    shape = (len(samples),) if width is None else (len(samples), width)
    if values.dtype.kind not in "fiub" or values.shape != shape:
        what = "numbers" if width is None else f"tuples of {width} numbers"
        raise ValueError(f"{key}: not {what} in every sample")
    return values.astype(np.float64, copy=False)


def _integers(samples: Sequence[GazeDict], key: str) -> IntArray:
    values = _values(samples, key)
    if values.shape != (len(samples),) or values.dtype.kind not in "fiub":
        raise ValueError(f"{key}: not integers in every sample")
    if values.dtype.kind == "f" and not np.isfinite(values).all():
        raise ValueError(f"{key}: not finite in every sample")
    return values.astype(np.int64, copy=False)  # a float is cut toward zero, as int() does

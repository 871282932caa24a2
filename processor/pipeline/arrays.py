"""A batch's columns as numpy arrays, the form the core computes with.

Pure conversion: the batch was checked on the way in
(:mod:`gazewire.processor.inputs.checks`: sample numbers without gaps, sample
times strictly increasing within the batch).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import chain

import numpy as np

from gazewire.wire.messages import GazeBatch


def _floats(values: list[float | None]) -> np.ndarray:
    if None not in values:
        return np.array(values, dtype=np.float64)
    return np.array([np.nan if v is None else v for v in values], dtype=np.float64)


def _joined(batches: Sequence[GazeBatch], name: str) -> list:
    if len(batches) == 1:
        return getattr(batches[0].columns, name)
    return list(chain.from_iterable(getattr(batch.columns, name) for batch in batches))


@dataclass(frozen=True)
class BatchArrays:
    system_us: np.ndarray  # int64, strictly increasing
    utc_us: np.ndarray  # int64
    x: np.ndarray  # float64, NaN where no eye is valid
    y: np.ndarray
    valid: np.ndarray  # bool: combined gaze present
    left_z: np.ndarray  # float64 gaze origin z (mm), NaN when missing
    left_origin_valid: np.ndarray  # bool
    right_z: np.ndarray
    right_origin_valid: np.ndarray

    @property
    def count(self) -> int:
        return int(self.system_us.size)

    @classmethod
    def of(cls, batch: GazeBatch) -> BatchArrays:
        return cls.of_many([batch])

    @classmethod
    def of_many(cls, batches: Sequence[GazeBatch]) -> BatchArrays:
        """The columns of consecutive batches of one stream, one after the other."""
        x = _floats(_joined(batches, "x"))
        y = _floats(_joined(batches, "y"))
        return cls(
            system_us=np.array(_joined(batches, "system_time_us"), dtype=np.int64),
            utc_us=np.array(_joined(batches, "utc_us"), dtype=np.int64),
            x=x,
            y=y,
            valid=np.isfinite(x) & np.isfinite(y),
            left_z=_floats(_joined(batches, "left_origin_z")),
            left_origin_valid=np.array(_joined(batches, "left_origin_valid"), dtype=bool),
            right_z=_floats(_joined(batches, "right_origin_z")),
            right_origin_valid=np.array(_joined(batches, "right_origin_valid"), dtype=bool),
        )

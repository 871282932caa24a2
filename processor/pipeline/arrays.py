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


def _floats(batches: Sequence[GazeBatch], name: str) -> np.ndarray:
    """A float column of the batches, NaN where a value is missing (numpy turns None into NaN
    for a float dtype: no scan for None, no list in between)."""
    return _array(batches, name, np.float64)


def _array(batches: Sequence[GazeBatch], name: str, dtype: type) -> np.ndarray:
    if len(batches) == 1:
        return np.array(getattr(batches[0].columns, name), dtype=dtype)
    columns = [getattr(batch.columns, name) for batch in batches]
    return np.fromiter(chain.from_iterable(columns), dtype=dtype, count=sum(map(len, columns)))


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
        x = _floats(batches, "x")
        y = _floats(batches, "y")
        return cls(
            system_us=_array(batches, "system_time_us", np.int64),
            utc_us=_array(batches, "utc_us", np.int64),
            x=x,
            y=y,
            valid=np.isfinite(x) & np.isfinite(y),
            left_z=_floats(batches, "left_origin_z"),
            left_origin_valid=_array(batches, "left_origin_valid", bool),
            right_z=_floats(batches, "right_origin_z"),
            right_origin_valid=_array(batches, "right_origin_valid", bool),
        )

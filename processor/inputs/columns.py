"""A batch's columns as numpy arrays, checked for what the model cannot see:
sample numbers that run without gaps and sample times that only go forward."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gazewire.wire.messages import GazeBatch
from gazewire.processor.inputs.bad_input import BadInput, BadInputKind


def _floats(values: list[float | None]) -> np.ndarray:
    return np.array([np.nan if v is None else v for v in values], dtype=np.float64)


@dataclass(frozen=True)
class SampleColumns:
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
    def from_batch(cls, batch: GazeBatch) -> SampleColumns:
        """Arrays of ``batch``; raise BadInput if its numbers or times are inconsistent."""
        c = batch.columns
        session = batch.session
        seq = np.array(c.seq, dtype=np.int64)
        if seq.size > 1 and not np.all(np.diff(seq) == 1):
            raise BadInput(BadInputKind.SCHEMA, "columns.seq does not count up by one", session)
        system_us = np.array(c.system_time_us, dtype=np.int64)
        if system_us.size > 1:
            steps = np.diff(system_us)
            if not np.all(steps > 0):
                bad = int(np.flatnonzero(steps <= 0)[0]) + 1
                raise BadInput(
                    BadInputKind.TIME_BACKWARDS,
                    f"system_time_us goes from {int(system_us[bad - 1])} to {int(system_us[bad])} "
                    f"at sample {int(seq[bad])}",
                    session,
                )
        x = _floats(c.x)
        y = _floats(c.y)
        return cls(
            system_us=system_us,
            utc_us=np.array(c.utc_us, dtype=np.int64),
            x=x,
            y=y,
            valid=np.isfinite(x) & np.isfinite(y),
            left_z=_floats(c.left_origin_z),
            left_origin_valid=np.array(c.left_origin_valid, dtype=bool),
            right_z=_floats(c.right_origin_z),
            right_origin_valid=np.array(c.right_origin_valid, dtype=bool),
        )

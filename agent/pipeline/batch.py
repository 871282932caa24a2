"""Build the lossless, columnar ``gaze/batch`` payload.

Every sample is added, valid or not; ``seq`` numbers samples without gaps
for the lifetime of the session on this machine. The pipeline adds runs of
samples as columns (:meth:`BatchBuilder.add_columns`); :meth:`BatchBuilder.build`
joins them and encodes the message with orjson, numpy arrays as they are (no
per-sample objects; NaN and infinity become ``null``, as the contract wants for
a value the tracker did not measure). The payload is checked against
:class:`gazewire.wire.messages.GazeBatch` by the tests.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import orjson

from gazewire.agent.inputs.sdk import GazeDict
from gazewire.agent.pipeline.columns import EyeColumns, GazeColumns
from gazewire.agent.pipeline.combine import EYE_NAMES, CombinedColumns, CombinedGaze, combine_columns
from gazewire.wire.messages import BATCH_COLUMNS, PROTOCOL_VERSION

_EYE_NAMES = np.array(EYE_NAMES, dtype=object)


def _eye_columns(side: str, eye: EyeColumns) -> dict[str, np.ndarray]:
    return {
        f"{side}_x": eye.point[:, 0],
        f"{side}_y": eye.point[:, 1],
        f"{side}_valid": eye.point_validity,
        f"{side}_pupil": eye.pupil,
        f"{side}_pupil_valid": eye.pupil_validity,
        f"{side}_origin_x": eye.origin[:, 0],
        f"{side}_origin_y": eye.origin[:, 1],
        f"{side}_origin_z": eye.origin[:, 2],
        f"{side}_origin_valid": eye.origin_validity,
    }


def batch_columns(
    first_seq: int, utc_us: np.ndarray, gaze: GazeColumns, combined: CombinedColumns
) -> dict[str, np.ndarray]:
    """A run of samples as the batch's columns (``BATCH_COLUMNS``), numbered from ``first_seq``."""
    columns = {
        "seq": np.arange(first_seq, first_seq + len(gaze), dtype=np.int64),
        "device_time_us": gaze.device_time_us,
        "system_time_us": gaze.system_time_us,
        "utc_us": utc_us,
        "x": combined.x,
        "y": combined.y,
        "eye": _EYE_NAMES[combined.eye],
        **_eye_columns("left", gaze.left),
        **_eye_columns("right", gaze.right),
    }
    return {name: columns[name] for name in BATCH_COLUMNS}


class BatchBuilder:
    """Collects runs of samples until :meth:`build` empties it.
    ``recording`` is the recording of every sample added (the agent builds the
    batch before it changes)."""

    def __init__(self, session: str, device: str, run: str) -> None:
        self.session = session
        self.device = device
        self.run = run
        self.recording: str | None = None
        self._reset()

    def _reset(self) -> None:
        self._runs: list[dict[str, np.ndarray]] = []
        self._count = 0
        self._first_seq = 0
        self._sdk_gaps: list[dict[str, int]] = []

    def __len__(self) -> int:
        return self._count

    def add_columns(self, first_seq: int, utc_us: np.ndarray, gaze: GazeColumns, combined: CombinedColumns) -> None:
        """A run of samples, numbered ``first_seq`` on (right after the samples already added)."""
        if not self._count:
            self._first_seq = first_seq
        self._runs.append(batch_columns(first_seq, utc_us, gaze, combined))
        self._count += len(gaze)

    def add(self, seq: int, utc_us: int, sample: GazeDict, gaze: CombinedGaze | None = None) -> None:
        """One SDK sample and its combined gaze (None: combined here). Raises ``ValueError``
        on a malformed sample before anything is stored."""
        columns = GazeColumns.from_samples([sample])
        combined = combine_columns(columns.left, columns.right) if gaze is None else CombinedColumns.of(gaze)
        self.add_columns(seq, np.array([utc_us], dtype=np.int64), columns, combined)

    def note_sdk_gap(self, before_seq: int, samples: int) -> None:
        """``samples`` were lost inside the SDK just before sample ``before_seq``."""
        self._sdk_gaps.append({"before_seq": before_seq, "samples": samples})

    def build(
        self, *, batch_seq: int, clock_offset_us: int, sample_rate_hz: float | None
    ) -> tuple[bytes, int]:
        """The JSON payload and the number of samples in it; empties the builder."""
        count = self._count
        columns: dict[str, Any]
        if count:
            columns = {name: np.concatenate([run[name] for run in self._runs]) for name in BATCH_COLUMNS}
            columns["eye"] = columns["eye"].tolist()
        else:
            columns = {name: [] for name in BATCH_COLUMNS}
        message = {
            "v": PROTOCOL_VERSION,
            "session": self.session,
            "device": self.device,
            "run": self.run,
            "batch_seq": batch_seq,
            "first_seq": self._first_seq if count else 0,
            "count": count,
            "clock_offset_us": clock_offset_us,
            "sample_rate_hz": sample_rate_hz,
            "recording": self.recording,
            "columns": columns,
        }
        if self._sdk_gaps:
            message["sdk_gaps"] = self._sdk_gaps
        payload = orjson.dumps(message, option=orjson.OPT_SERIALIZE_NUMPY)
        self._reset()
        return payload, count

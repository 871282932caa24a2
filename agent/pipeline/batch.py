"""Build the lossless, columnar ``gaze/batch`` payload.

Every sample is added, valid or not; ``seq`` numbers samples without gaps
for the lifetime of the session on this machine. The payload is plain JSON
built here (no per-sample objects), checked against
:class:`gazewire.wire.messages.GazeBatch` by the tests.
"""

from __future__ import annotations

import json
import math
from typing import Any

from gazewire.agent.inputs.sdk import GazeDict
from gazewire.agent.pipeline.combine import CombinedGaze
from gazewire.wire.messages import BATCH_COLUMNS, PROTOCOL_VERSION


def _number(value: Any) -> float | None:
    value = float(value)
    return value if math.isfinite(value) else None


class BatchBuilder:
    """Collects samples column by column until :meth:`build` empties it.
    ``recording`` is the recording of every sample added (the agent builds the
    batch before it changes)."""

    def __init__(self, session: str, device: str, run: str) -> None:
        self.session = session
        self.device = device
        self.run = run
        self.recording: str | None = None
        self._reset()

    def _reset(self) -> None:
        self._columns: dict[str, list[Any]] = {name: [] for name in BATCH_COLUMNS}
        self._column_lists = [self._columns[name] for name in BATCH_COLUMNS]
        self._sdk_gaps: list[dict[str, int]] = []

    def __len__(self) -> int:
        return len(self._columns["seq"])

    @staticmethod
    def row(seq: int, utc_us: int, sample: GazeDict, gaze: CombinedGaze) -> tuple[Any, ...]:
        """One sample's values in BATCH_COLUMNS order. Raises (KeyError, TypeError,
        ValueError) on a malformed sample before anything is stored."""
        values: list[Any] = [
            seq,
            int(sample["device_time_stamp"]),
            int(sample["system_time_stamp"]),
            utc_us,
            _number(gaze.x),
            _number(gaze.y),
            gaze.eye,
        ]
        for side in ("left", "right"):
            x, y = sample[f"{side}_gaze_point_on_display_area"]
            ox, oy, oz = sample[f"{side}_gaze_origin_in_user_coordinate_system"]
            values += (
                _number(x),
                _number(y),
                int(sample[f"{side}_gaze_point_validity"]),
                _number(sample[f"{side}_pupil_diameter"]),
                int(sample[f"{side}_pupil_validity"]),
                _number(ox),
                _number(oy),
                _number(oz),
                int(sample[f"{side}_gaze_origin_validity"]),
            )
        return tuple(values)

    def append(self, row: tuple[Any, ...]) -> None:
        for column, value in zip(self._column_lists, row):
            column.append(value)

    def note_sdk_gap(self, before_seq: int, samples: int) -> None:
        """``samples`` were lost inside the SDK just before sample ``before_seq``."""
        self._sdk_gaps.append({"before_seq": before_seq, "samples": samples})

    def add(self, seq: int, utc_us: int, sample: GazeDict, gaze: CombinedGaze) -> None:
        self.append(self.row(seq, utc_us, sample, gaze))

    def build(
        self, *, batch_seq: int, clock_offset_us: int, sample_rate_hz: float | None
    ) -> tuple[bytes, int]:
        """The JSON payload and the number of samples in it; empties the builder."""
        columns = self._columns
        count = len(columns["seq"])
        message = {
            "v": PROTOCOL_VERSION,
            "session": self.session,
            "device": self.device,
            "run": self.run,
            "batch_seq": batch_seq,
            "first_seq": columns["seq"][0] if count else 0,
            "count": count,
            "clock_offset_us": clock_offset_us,
            "sample_rate_hz": sample_rate_hz,
            "recording": self.recording,
            "columns": columns,
        }
        if self._sdk_gaps:
            message["sdk_gaps"] = self._sdk_gaps
        payload = json.dumps(message, separators=(",", ":"), allow_nan=False).encode()
        self._reset()
        return payload, count

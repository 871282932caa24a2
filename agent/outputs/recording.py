"""The local recording: every sample at full rate, one CSV per session.

Appends to ``<data_dir>/recordings/<session>.csv`` across agent restarts; the
columns and rows are defined in :mod:`gazewire.agent.recording_format`, which
the replay source reads with.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any, TextIO

from gazewire.agent.inputs.sdk import GazeDict
from gazewire.agent.pipeline.combine import CombinedGaze
from gazewire.agent.recording_format import RECORDING_COLUMNS, gaze_row, marker_row


class Recording:
    """Appends rows to the session's CSV; :meth:`flush` once per batch."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        new = not self.path.exists() or self.path.stat().st_size == 0
        self._file: TextIO = self.path.open("a", newline="", encoding="utf-8")
        self._writer = csv.writer(self._file)
        if new:
            self._writer.writerow(RECORDING_COLUMNS)
        self.rows = 0

    def write_row(self, row: list[Any]) -> None:
        self._writer.writerow(row)
        self.rows += 1

    def write_sample(self, seq: int, utc_us: int, sample: GazeDict, gaze: CombinedGaze) -> None:
        self.write_row(gaze_row(seq, utc_us, sample, gaze))

    def write_marker(self, name: str, utc_us: int, system_time_us: int | None) -> None:
        self.write_row(marker_row(name, utc_us, system_time_us))

    def flush(self) -> None:
        self._file.flush()

    def close(self) -> None:
        if not self._file.closed:
            self._file.flush()
            self._file.close()

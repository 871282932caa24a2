"""The local recording: every sample at full rate, one CSV per session.

Appends to ``<data_dir>/recordings/<session>.csv`` across agent restarts; the
columns and rows are defined in :mod:`gazewire.agent.recording_format`, which
the replay source reads with.
"""

from __future__ import annotations

import csv
import logging
import os
import time
from pathlib import Path
from typing import Any, TextIO

from gazewire.agent.inputs.sdk import GazeDict
from gazewire.agent.pipeline.combine import CombinedGaze
from gazewire.agent.recording_format import RECORDING_COLUMNS, gaze_row, marker_row

log = logging.getLogger(__name__)


class Recording:
    """Appends rows to the session's CSV; :meth:`flush` once per batch.

    A failing disk (full, read-only, gone) never raises out of here: the
    recording stops (``error`` says why), counts every sample it could not
    keep (``samples_lost``; markers in ``markers_lost``), and :meth:`resume`
    starts it again; it has recovered once a flush reaches the disk. Rows written since the last
    successful flush may be partly on disk when a write fails: on resume the
    file is cut back to its size after that flush, so it never holds a broken
    row, and those rows are counted as lost.
    """

    def __init__(self, path: Path, *, retry_s: float = 5.0, clock=time.monotonic) -> None:
        self.path = Path(path)
        self.retry_s = retry_s
        self._clock = clock
        self.rows = 0
        self.samples_lost = 0
        self.markers_lost = 0
        self.error: str | None = None  # why the recording is stopped; None while it writes
        self.last_error: str | None = None  # the last failure, kept after a resume
        self._file: TextIO | None = None
        self._writer: Any = None
        self._good_size: int | None = None  # file size after the last successful flush
        self._unflushed_samples = 0
        self._unflushed_markers = 0
        self._retry_at = 0.0
        self._open()

    def _open(self) -> bool:
        file = None
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            size = self.path.stat().st_size if self.path.exists() else 0
            if self._good_size is not None and size > self._good_size:
                os.truncate(self.path, self._good_size)  # cut off what the failed writes left
                size = self._good_size
            file = self.path.open("a", newline="", encoding="utf-8")
            writer = csv.writer(file)
            if size == 0:
                self._good_size = 0
                writer.writerow(RECORDING_COLUMNS)
                file.flush()
            self._good_size = os.fstat(file.fileno()).st_size
        except OSError as error:
            if file is not None:
                _close_quietly(file)
            self._stopped(error)
            return False
        self._file, self._writer = file, writer
        return True

    def _stopped(self, error: OSError) -> None:
        """The disk failed: drop the file, count what it will not hold, retry later."""
        self.samples_lost += self._unflushed_samples
        self.markers_lost += self._unflushed_markers
        self._unflushed_samples = self._unflushed_markers = 0
        file, self._file, self._writer = self._file, None, None
        if file is not None:
            _close_quietly(file)
        first = self.error is None
        self.error = self.last_error = f"{self.path}: {error.strerror or error}"
        self._retry_at = self._clock() + self.retry_s
        if first:
            log.error("local recording stopped: %s; retrying every %g s", self.error, self.retry_s)

    def resume(self) -> bool:
        """After a failure, open the file again (at most every ``retry_s``);
        ``error`` clears with the first flush that reaches the disk. True
        while the file is open."""
        if self._file is not None:
            return True
        if self._clock() < self._retry_at:
            return False
        return self._open()

    def write_row(self, row: list[Any]) -> None:
        """Write a sample's row (see :meth:`row`)."""
        writer = self._writer
        if writer is None:
            self.samples_lost += 1
            return
        self._unflushed_samples += 1
        try:
            writer.writerow(row)
        except OSError as error:
            self._stopped(error)
            return
        self.rows += 1

    def write_sample(self, seq: int, utc_us: int, sample: GazeDict, gaze: CombinedGaze) -> None:
        self.write_row(gaze_row(seq, utc_us, sample, gaze))

    def write_marker(self, name: str, utc_us: int, system_time_us: int | None) -> None:
        if self._writer is None:
            self.markers_lost += 1
            return
        self._unflushed_markers += 1
        try:
            self._writer.writerow(marker_row(name, utc_us, system_time_us))
        except OSError as error:
            self._stopped(error)
            return
        self.rows += 1

    def flush(self) -> None:
        file = self._file
        if file is None:
            return
        try:
            file.flush()
            self._good_size = os.fstat(file.fileno()).st_size
        except OSError as error:
            self._stopped(error)
            return
        self._unflushed_samples = self._unflushed_markers = 0
        if self.error is not None:  # the first flush after a failure: the disk takes writes again
            self.error = None
            log.warning(
                "local recording %s resumed; %d samples and %d markers are missing from it",
                self.path, self.samples_lost, self.markers_lost,
            )

    def close(self) -> None:
        self.flush()
        file, self._file, self._writer = self._file, None, None
        if file is not None:
            _close_quietly(file)


def _close_quietly(file: TextIO) -> None:
    try:
        file.close()
    except OSError:  # the flush inside close failed: what it held is counted already
        pass

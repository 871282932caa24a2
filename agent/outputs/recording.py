"""The local recording's files: every sample at full rate in CSV, and each
recording's JSON sidecar.

:class:`Recording` writes one CSV: a recording's own
(``<data_dir>/recordings/<session>/<recording>[_<name>].csv``) or the session's
file of the samples between recordings (``<data_dir>/recordings/<session>.csv``,
appended across agent restarts). Where the files are, their columns and the
sidecar's fields are defined in :mod:`gazewire.agent.recording_format`, which
the replay source reads with. :func:`write_sidecar` replaces a sidecar
atomically; :func:`count_rows` counts a CSV's rows after a crash and finds a
torn last row.
"""

from __future__ import annotations

import csv
import io
import logging
import os
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from gazewire.agent.inputs.sdk import GazeDict
from gazewire.agent.pipeline.combine import CombinedGaze
from gazewire.agent.recording_format import GAZE, MARKER, RECORDING_COLUMNS, RecordingSidecar, gaze_row, marker_row

log = logging.getLogger(__name__)


class Recording:
    """Appends rows to one CSV: they are kept in memory and written with one write
    per batch (:meth:`flush`, once per batch).

    ``samples_in_file`` and ``markers_in_file`` count the rows this object has
    flushed to the file (whole rows only, see below).

    A failing disk (full, read-only, gone) never raises out of here: the
    recording stops (``error`` says why), counts every sample it could not
    keep (``samples_lost``; markers in ``markers_lost``), and :meth:`resume`
    starts it again; it has recovered once a flush reaches the disk. Rows
    written since the last successful flush may be partly on disk when a
    write fails: on resume the file is cut back to its size after that flush,
    so it never holds a broken row, and those rows are counted as lost.
    """

    def __init__(self, path: Path, *, retry_s: float = 5.0, clock=time.monotonic) -> None:
        self.path = Path(path)
        self.retry_s = retry_s
        self._clock = clock
        self.rows = 0
        self.samples_in_file = 0
        self.markers_in_file = 0
        self.samples_lost = 0
        self.markers_lost = 0
        self.error: str | None = None  # why the recording is stopped; None while it writes
        self.last_error: str | None = None  # the last failure, kept after a resume
        self._file: TextIO | None = None
        self._pending: list[str] = []  # rows (CSV text) written at the next flush
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
            if size == 0:
                self._good_size = 0
                file.write(_csv_text(RECORDING_COLUMNS))
                file.flush()
            self._good_size = os.fstat(file.fileno()).st_size
        except OSError as error:
            if file is not None:
                _close_quietly(file)
            self._stopped(error)
            return False
        self._file = file
        return True

    def _stopped(self, error: OSError) -> None:
        """The disk failed: drop the file, count what it will not hold, retry later."""
        self.samples_lost += self._unflushed_samples
        self.markers_lost += self._unflushed_markers
        self._unflushed_samples = self._unflushed_markers = 0
        self._pending = []
        file, self._file = self._file, None
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

    def write_rows(self, text: str, samples: int) -> None:
        """Write the rows of ``samples`` samples, as CSV text (``recording_format.gaze_rows_csv``)."""
        if self._file is None:
            self.samples_lost += samples
            return
        self._pending.append(text)
        self._unflushed_samples += samples
        self.rows += samples

    def write_row(self, row: list[Any]) -> None:
        """Write one sample's row (``recording_format.gaze_row``)."""
        self.write_rows(_csv_text(row), 1)

    def write_sample(self, seq: int, utc_us: int, sample: GazeDict, gaze: CombinedGaze) -> None:
        self.write_row(gaze_row(seq, utc_us, sample, gaze))

    def write_marker(self, name: str, utc_us: int, system_time_us: int | None) -> None:
        if self._file is None:
            self.markers_lost += 1
            return
        self._pending.append(_csv_text(marker_row(name, utc_us, system_time_us)))
        self._unflushed_markers += 1
        self.rows += 1

    def flush(self) -> None:
        """Write the rows since the last flush (one write) and hand them to the system."""
        file = self._file
        if file is None:
            return
        try:
            if self._pending:
                self._write(file, "".join(self._pending))
                self._pending = []
            file.flush()
            self._good_size = os.fstat(file.fileno()).st_size
        except OSError as error:
            self._stopped(error)
            return
        self.samples_in_file += self._unflushed_samples
        self.markers_in_file += self._unflushed_markers
        self._unflushed_samples = self._unflushed_markers = 0
        if self.error is not None:  # the first flush after a failure: the disk takes writes again
            self.error = None
            log.warning(
                "local recording %s resumed; %d samples and %d markers are missing from it",
                self.path, self.samples_lost, self.markers_lost,
            )

    @staticmethod
    def _write(file: TextIO, text: str) -> None:
        file.write(text)

    @property
    def size(self) -> int:
        """The file's size after the last successful flush (whole rows only)."""
        return self._good_size or 0

    def sync(self) -> None:
        """Flush, and ask the system to put the file on the disk (``fsync``): what
        :attr:`size` counts then survives a power loss too."""
        self.flush()
        file = self._file
        if file is None:
            return
        try:
            os.fsync(file.fileno())
        except OSError as error:
            log.warning("cannot sync %s to the disk: %s", self.path, error.strerror or error)

    def close(self) -> None:
        self.flush()
        file, self._file = self._file, None
        if file is not None:
            _close_quietly(file)
        if self.error is not None and self._good_size is not None:
            try:  # a failed write may have left part of a row: cut the file back to whole rows
                if self.path.stat().st_size > self._good_size:
                    os.truncate(self.path, self._good_size)
            except OSError:
                pass  # the disk refuses even that: counted already, the reader's count_rows skips it


def _csv_text(row: Sequence[Any]) -> str:
    """One row as ``csv.writer`` writes it (quoted where needed, CR LF at its end)."""
    text = io.StringIO()
    csv.writer(text).writerow(row)
    return text.getvalue()


def _close_quietly(file: TextIO) -> None:
    try:
        file.close()
    except OSError:  # the flush inside close failed: what it held is counted already
        pass


# --------------------------------------------------------------------------- sidecars


def write_sidecar(path: Path, sidecar: RecordingSidecar) -> None:
    """Replace the sidecar at ``path`` atomically (a reader sees the old or the new
    one, never half of one; a crash leaves one of the two), synced to the disk.
    Raises OSError."""
    path = Path(path)
    temporary = path.with_name(path.name + ".tmp")
    data = sidecar.model_dump_json(indent=2).encode() + b"\n"
    with temporary.open("wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)


def read_sidecar(path: Path) -> RecordingSidecar:
    """Raises OSError, or ValueError (pydantic's) for a file that is no sidecar."""
    return RecordingSidecar.model_validate_json(Path(path).read_bytes())


# --------------------------------------------------------------------------- counting rows


@dataclass(frozen=True, slots=True)
class RowCount:
    """What :func:`count_rows` found from its start offset on."""

    samples: int
    markers: int
    samples_invalid: int
    last_seq: int | None
    last_utc_us: int | None
    end: int  # the offset after the last whole row
    torn: bool  # something after ``end`` is not a whole row (a write cut off by a crash)


def count_rows(path: Path, offset: int = 0) -> RowCount:
    """Count the sample and marker rows of a recording's CSV from ``offset`` (a row
    boundary; 0: the start, whose header is skipped). A row is whole when it has
    every column and its line ends; the first one that is not, and anything after
    it, is torn. Reads row by row: any size of file."""
    samples = markers = invalid = 0
    last_seq = last_utc = None
    with Path(path).open("rb") as handle:
        handle.seek(offset)
        position = offset
        line_ended = True

        def lines() -> Iterator[str]:
            nonlocal position, line_ended
            for raw in handle:
                position += len(raw)
                line_ended = raw.endswith(b"\n")
                yield raw.decode("utf-8", errors="replace")

        end, torn = offset, False
        reader = csv.reader(lines(), strict=True)  # strict: a quoted field open at the end is an error
        width = len(RECORDING_COLUMNS)
        try:
            for row in reader:
                if not line_ended or len(row) != width:
                    torn = True
                    break
                kind = row[0]
                if kind == GAZE:
                    samples += 1
                    last_seq = int(row[1])
                    last_utc = int(row[2])
                    invalid += row[-2] == "none"
                elif kind == MARKER:
                    markers += 1
                    last_utc = int(row[2])
                elif kind != "kind":  # the header
                    torn = True
                    break
                end = position
        except (csv.Error, ValueError):
            torn = True
        if not torn and position > end:
            torn = True  # bytes after the last whole row that csv did not make into a row
    return RowCount(samples, markers, invalid, last_seq, last_utc, end, torn)

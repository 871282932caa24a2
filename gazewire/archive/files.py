"""A tracker PC's own archive: the agent's recording files, read only.

Under ``<data_dir>/recordings/`` (:mod:`gazewire.agent.recording_format`): one CSV and
one JSON sidecar per recording in ``<session>/``, and ``<session>.csv`` with the
samples between recordings. The CSV's values are read back exactly (Arrow parses
the shortest round-trip decimal the agent wrote into the same double) and renamed to
the wire contract's columns (``left_gaze_point_on_display_area_x`` is ``left_x``, ...),
so a recording reads the same from its files as from the lab server's journal.
"""

from __future__ import annotations

import csv
import io
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from gazewire.agent.recording_format import (
    GAZE,
    MARKER,
    RECORDING_COLUMNS,
    RecordingSidecar,
    recording_path,
    recordings_dir,
)
from gazewire.archive.base import (
    ArchiveError,
    ArchiveNotFound,
    BadSelection,
    RecordingDetails,
    RecordingSummary,
    Selection,
    SessionSummary,
    UnknownRecording,
    UnknownSession,
    check_range,
)
from gazewire.archive.journal import EYE_DISTANCE_SAMPLES, eye_distance_mm
from gazewire.archive.tables import DEFAULT_CHUNK_ROWS, GAZE_SCHEMA, MARKER_SCHEMA, rechunk

# Each column of the gaze table and the CSV column it is read from.
GAZE_FROM_CSV: dict[str, str] = {
    "seq": "seq",
    "device_time_us": "device_time_stamp",
    "system_time_us": "system_time_stamp",
    "utc_us": "utc_us",
    "x": "x",
    "y": "y",
    "eye": "eye",
    **{
        f"{side}_{name}": f"{side}_{column}"
        for side in ("left", "right")
        for name, column in (
            ("x", "gaze_point_on_display_area_x"),
            ("y", "gaze_point_on_display_area_y"),
            ("valid", "gaze_point_validity"),
            ("pupil", "pupil_diameter"),
            ("pupil_valid", "pupil_validity"),
            ("origin_x", "gaze_origin_in_user_coordinate_system_x"),
            ("origin_y", "gaze_origin_in_user_coordinate_system_y"),
            ("origin_z", "gaze_origin_in_user_coordinate_system_z"),
            ("origin_valid", "gaze_origin_validity"),
        )
    },
}
READ_BLOCK_BYTES = 4 << 20  # CSV read at a time: ~10 000 rows


def _csv_type(column: str) -> pa.DataType:
    if column in ("kind", "eye", "marker"):
        return pa.string()
    if column in ("seq", "utc_us", "device_time_stamp", "system_time_stamp"):
        return pa.int64()
    if column.endswith("validity"):
        return pa.int8()
    return pa.float64()


CSV_TYPES = {column: _csv_type(column) for column in RECORDING_COLUMNS}


@dataclass(frozen=True, slots=True)
class RecordingFile:
    session: str
    sidecar_path: Path
    sidecar: RecordingSidecar

    @property
    def csv_path(self) -> Path:
        return self.sidecar_path.with_name(self.sidecar.csv)


class RecordingFilesArchive:
    """:class:`~gazewire.archive.base.Archive` over an agent's data directory (or its
    ``recordings/`` folder). Fixations, saccades and alerts come from the processor:
    a tracker PC's files have none (those readers yield nothing)."""

    def __init__(self, data_dir: Path | str) -> None:
        folder = Path(data_dir).expanduser()
        if not folder.is_dir():
            raise ArchiveNotFound(f"no recordings folder at {str(folder)!r}")
        self.data_dir = folder.parent if folder.name == "recordings" and not (folder / "recordings").is_dir() else folder
        self.root = self.data_dir / "recordings"
        self.description = f"the recordings in {str(self.root)!r}"
        self._spans: dict[tuple[Path, int, int], tuple[int, int | None, int | None]] = {}
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ files

    def _session_names(self) -> list[str]:
        if not self.root.is_dir():
            return []
        names = {p.name for p in self.root.iterdir() if p.is_dir() and not p.name.startswith(".")}
        names |= {p.stem for p in self.root.glob("*.csv")}
        return sorted(names)

    def _files(self, session: str | None = None) -> list[RecordingFile]:
        found = []
        for name in [session] if session is not None else self._session_names():
            folder = recordings_dir(self.data_dir, name)
            if not folder.is_dir():
                continue
            for path in sorted(folder.glob("*.json")):
                try:
                    sidecar = RecordingSidecar.model_validate_json(path.read_bytes())
                except (OSError, ValueError):
                    continue  # not a sidecar (someone's notes): no recording
                found.append(RecordingFile(name, path, sidecar))
        return found

    def _file(self, recording: str) -> RecordingFile:
        for file in self._files():
            if file.sidecar.recording == recording:
                return file
        raise UnknownRecording(recording, self.description)

    def _span(self, path: Path, sidecar: RecordingSidecar | None = None) -> tuple[int, int | None, int | None]:
        """(gaze rows, first and last sample utc_us) of a CSV, kept while the file is unchanged.

        A finished recording whose CSV is the size its sidecar noted has its row count in the
        sidecar, and its first and last sample near the file's two ends: read there only.
        Anything else (a recording cut off by a crash, the session's file) is counted."""
        try:
            stat = path.stat()
        except OSError:
            return 0, None, None
        key = (path, stat.st_size, stat.st_mtime_ns)
        with self._lock:
            if key in self._spans:
                return self._spans[key]
        found = None
        if sidecar is not None and sidecar.state != "recording" and sidecar.csv_bytes == stat.st_size:
            first, last = _edge_time(path, stat.st_size, head=True), _edge_time(path, stat.st_size, head=False)
            if first is not None and last is not None:
                found = (sidecar.samples_in_file, first, last)
        if found is None:
            rows, first, last = 0, None, None
            for batch in _read_csv(path, ["kind", "utc_us"]):
                times = batch.filter(pc.equal(batch.column("kind"), GAZE)).column("utc_us")
                if len(times):
                    rows += len(times)
                    first = times[0].as_py() if first is None else first
                    last = times[-1].as_py()
            found = (rows, first, last)
        with self._lock:
            self._spans[key] = found
        return found

    # ------------------------------------------------------------------ listings

    def sessions(self) -> list[SessionSummary]:
        out = []
        for name in self._session_names():
            files = self._files(name)
            spans = [self._span(f.csv_path) for f in files]
            between = recording_path(self.data_dir, name)
            if between.is_file():
                spans.append(self._span(between))
            firsts = [s[1] for s in spans if s[1] is not None]
            lasts = [s[2] for s in spans if s[2] is not None]
            out.append(SessionSummary(
                name, len(files), sum(s[0] for s in spans), min(firsts, default=None), max(lasts, default=None)
            ))
        return out

    def recordings(
        self,
        session: str | None = None,
        *,
        since_utc_us: int | None = None,
        until_utc_us: int | None = None,
        participant: str | None = None,
    ) -> list[RecordingSummary]:
        found = []
        for file in self._files(session):
            if participant is not None and file.sidecar.participant != participant:
                continue
            summary = self._summary(file)
            start = summary.start_utc_us if summary.start_utc_us is not None else file.sidecar.started_utc_us
            if since_utc_us is not None and start < since_utc_us:
                continue
            if until_utc_us is not None and start >= until_utc_us:
                continue
            found.append(summary)
        return sorted(found, key=lambda s: (s.start_utc_us or 0, s.session, s.id))

    def recording(self, recording: str) -> RecordingDetails:
        file = self._file(recording)
        sidecar = file.sidecar
        distance = None
        for chunk in rechunk(self._gaze_of(file, Selection(file.session, recording), EYE_DISTANCE_SAMPLES),
                              EYE_DISTANCE_SAMPLES):
            distance = eye_distance_mm(chunk)
            break
        return RecordingDetails(
            summary=self._summary(file),
            metadata=dict(sidecar.metadata),
            started_utc_us=sidecar.started_utc_us,
            stopped_utc_us=sidecar.stopped_utc_us,
            tracker=sidecar.tracker,
            frequency_hz=sidecar.frequency_hz or (sidecar.tracker.frequency_hz if sidecar.tracker else None),
            display_area=sidecar.display_area,
            eye_distance_mm=distance,
            agent_version=sidecar.agent.version,
            host=sidecar.agent.host,
        )

    def _summary(self, file: RecordingFile) -> RecordingSummary:
        sidecar = file.sidecar
        rows, first, last = self._span(file.csv_path, sidecar)
        valid = (sidecar.samples - sidecar.samples_invalid) / sidecar.samples if sidecar.samples else None
        return RecordingSummary(
            session=file.session, id=sidecar.recording, name=sidecar.name, participant=sidecar.participant,
            start_utc_us=first, stop_utc_us=last, samples=rows, valid_share=valid,
            losses={name: n for name, n in sidecar.losses.items() if n}, state=sidecar.state,
        )

    # ------------------------------------------------------------------ readers

    def gaze(self, recording: str | None = None, *, session: str | None = None, from_utc_us: int | None = None,
             to_utc_us: int | None = None, chunk_rows: int = DEFAULT_CHUNK_ROWS) -> Iterator[pa.RecordBatch]:
        files, chosen = self._select(recording, session, from_utc_us, to_utc_us)
        streams = [self._gaze_of(f, chosen, chunk_rows) for f in files]
        return rechunk(_merge_by_time(streams, "utc_us"), chunk_rows)

    def markers(self, recording: str | None = None, *, session: str | None = None, from_utc_us: int | None = None,
                to_utc_us: int | None = None, chunk_rows: int = DEFAULT_CHUNK_ROWS) -> Iterator[pa.RecordBatch]:
        files, chosen = self._select(recording, session, from_utc_us, to_utc_us)
        streams = [self._markers_of(f, chosen) for f in files]
        return rechunk(_merge_by_time(streams, "utc_us"), chunk_rows)

    def fixations(self, recording: str | None = None, *, session: str | None = None, from_utc_us: int | None = None,
                  to_utc_us: int | None = None, chunk_rows: int = DEFAULT_CHUNK_ROWS) -> Iterator[pa.RecordBatch]:
        self._select(recording, session, from_utc_us, to_utc_us)
        return iter(())

    def movements(self, recording: str | None = None, *, session: str | None = None, from_utc_us: int | None = None,
                  to_utc_us: int | None = None, chunk_rows: int = DEFAULT_CHUNK_ROWS) -> Iterator[pa.RecordBatch]:
        self._select(recording, session, from_utc_us, to_utc_us)
        return iter(())

    def alerts(self, recording: str | None = None, *, session: str | None = None, from_utc_us: int | None = None,
               to_utc_us: int | None = None, chunk_rows: int = DEFAULT_CHUNK_ROWS) -> Iterator[pa.RecordBatch]:
        self._select(recording, session, from_utc_us, to_utc_us)
        return iter(())

    # ------------------------------------------------------------------ reading

    def _select(self, recording: str | None, session: str | None, from_utc_us: int | None,
                to_utc_us: int | None) -> tuple[list[RecordingFile | Path], Selection]:
        """The files to read (a recording's, or a session's recordings and its file of the
        samples between them) and the selection."""
        check_range(from_utc_us, to_utc_us)
        if recording is not None:
            file = self._file(recording)
            if session is not None and session != file.session:
                raise UnknownRecording(recording, f"session {session!r} of {self.description}")
            return [file], Selection(file.session, recording, from_utc_us, to_utc_us)
        if session is None:
            raise BadSelection("choose a recording or a session")
        if session not in self._session_names():
            raise UnknownSession(session, self.description)
        files: list[RecordingFile | Path] = list(self._files(session))
        between = recording_path(self.data_dir, session)
        if between.is_file():
            files.append(between)
        return files, Selection(session, None, from_utc_us, to_utc_us)

    def _gaze_of(self, file: RecordingFile | Path, chosen: Selection, chunk_rows: int) -> Iterator[pa.RecordBatch]:
        path, recording = (file.csv_path, file.sidecar.recording) if isinstance(file, RecordingFile) else (file, None)
        columns = list(GAZE_FROM_CSV.values())
        for batch in _read_csv(path, ["kind", *columns]):
            batch = _keep(batch, GAZE, chosen)
            if not len(batch):
                continue
            arrays = [batch.column(GAZE_FROM_CSV[name]) for name in GAZE_FROM_CSV]
            arrays.append(pa.array([recording] * len(batch), pa.string()))
            yield pa.RecordBatch.from_arrays(arrays, schema=GAZE_SCHEMA)

    def _markers_of(self, file: RecordingFile | Path, chosen: Selection) -> Iterator[pa.RecordBatch]:
        path, recording = (file.csv_path, file.sidecar.recording) if isinstance(file, RecordingFile) else (file, None)
        for batch in _read_csv(path, ["kind", "utc_us", "marker", "system_time_stamp"]):
            batch = _keep(batch, MARKER, chosen)
            if not len(batch):
                continue
            count = len(batch)
            yield pa.RecordBatch.from_arrays([
                batch.column("utc_us"),
                pc.fill_null(batch.column("marker"), ""),
                batch.column("system_time_stamp"),
                pa.nulls(count, pa.string()),  # the CSV does not say whether a marker came by command
                pa.array([recording] * count, pa.string()),
            ], schema=MARKER_SCHEMA)


EDGE_BYTES = 1 << 18  # how far into each end of a CSV its first and last sample are looked for


def _edge_time(path: Path, size: int, *, head: bool) -> int | None:
    """utc_us of the first (``head``) or last whole gaze row within EDGE_BYTES of that end."""
    try:
        with path.open("rb") as handle:
            start = 0 if head else max(0, size - EDGE_BYTES)
            handle.seek(start)
            block = handle.read(min(EDGE_BYTES, size))
    except OSError:
        return None
    lines = block.split(b"\n")
    if start > 0:
        lines = lines[1:]  # the first line is cut
    lines = lines[:-1]  # after the last line end: nothing, or a cut line
    rows = csv.reader(line.decode("utf-8", errors="replace") for line in (lines if head else reversed(lines)))
    width = len(RECORDING_COLUMNS)
    try:
        for row in rows:
            if len(row) == width and row[0] == GAZE:
                return int(row[2])
    except (csv.Error, ValueError):
        return None
    return None


def _keep(batch: pa.RecordBatch, kind: str, chosen: Selection) -> pa.RecordBatch:
    mask = pc.equal(batch.column("kind"), kind)
    times = batch.column("utc_us")
    if chosen.from_utc_us is not None:
        mask = pc.and_(mask, pc.greater_equal(times, chosen.from_utc_us))
    if chosen.to_utc_us is not None:
        mask = pc.and_(mask, pc.less(times, chosen.to_utc_us))
    return batch.filter(pc.fill_null(mask, False))


def _read_csv(path: Path, columns: list[str]) -> Iterator[pa.RecordBatch]:
    """The CSV's rows, ``columns`` only, a block at a time. A last row cut off by a crash
    (no line end) is left out, as the agent's own row count leaves it out."""
    try:
        handle = path.open("rb")
    except OSError as error:
        raise ArchiveError(f"cannot read {str(path)!r}: {error.strerror or error}") from None
    with handle:
        size = handle.seek(0, io.SEEK_END)
        end = size
        if size:
            handle.seek(size - 1)
            if handle.read(1) != b"\n":
                end = _last_line_end(handle, size)
        handle.seek(0)
        if end == 0:
            return
        source: Any = handle if end == size else io.BufferedReader(_Limited(handle, end), READ_BLOCK_BYTES)
        try:
            reader = pacsv.open_csv(
                source,
                read_options=pacsv.ReadOptions(block_size=READ_BLOCK_BYTES, use_threads=True),
                parse_options=pacsv.ParseOptions(newlines_in_values=True),
                convert_options=pacsv.ConvertOptions(
                    column_types={c: CSV_TYPES[c] for c in columns}, include_columns=columns,
                    strings_can_be_null=False,
                ),
            )
            yield from reader
        except (pa.ArrowInvalid, OSError) as error:
            raise ArchiveError(f"cannot read {str(path)!r}: {error}") from None


def _last_line_end(handle: io.BufferedReader, size: int) -> int:
    """The offset after the file's last line end (0: none)."""
    position = size
    while position > 0:
        start = max(0, position - 65536)
        handle.seek(start)
        block = handle.read(position - start)
        found = block.rfind(b"\n")
        if found >= 0:
            return start + found + 1
        position = start
    return 0


class _Limited(io.RawIOBase):
    """The first ``limit`` bytes of a file."""

    def __init__(self, handle: io.BufferedReader, limit: int) -> None:
        self._handle = handle
        self._left = limit

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self._left <= 0:
            return 0
        view = memoryview(buffer)[: self._left]
        count = self._handle.readinto(view)
        self._left -= count
        return count


def _merge_by_time(streams: Iterable[Iterator[pa.RecordBatch]], column: str) -> Iterator[pa.RecordBatch]:
    """Batches of streams each in time order, as one stream in time order (the streams
    of a session's files hardly overlap: whole batches pass, cut only where another
    file's data start)."""
    heads: list[tuple[pa.RecordBatch, Iterator[pa.RecordBatch]]] = []
    for stream in streams:
        first = next(stream, None)
        if first is not None:
            heads.append((first, stream))
    while heads:
        heads.sort(key=lambda head: head[0].column(column)[0].as_py())
        batch, stream = heads[0]
        if len(heads) == 1:
            yield batch
            yield from stream
            return
        limit = heads[1][0].column(column)[0].as_py()
        times = batch.column(column).to_numpy()
        cut = max(1, int(np.searchsorted(times, limit, side="right")))
        if cut >= len(batch):
            yield batch
            following = next(stream, None)
            if following is None:
                heads.pop(0)
            else:
                heads[0] = (following, stream)
        else:
            yield batch.slice(0, cut)
            heads[0] = (batch.slice(cut), stream)

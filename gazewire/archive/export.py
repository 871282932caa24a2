"""Export: what to write (:func:`plan`) and writing it as CSV, Parquet or a BIDS dataset
(:func:`export`), streaming one chunk at a time from any :class:`~gazewire.archive.base.Archive`.

* ``csv``: one file per table (``<stem>_gaze.csv``, ``_markers``, ``_fixations``,
  ``_movements``, ``_alerts``) and ``<stem>.json`` with the recording's metadata.
  Numbers are written in the shortest form that reads back as the same double.
* ``parquet``: the same tables as Parquet files, typed (the schemas of
  :mod:`gazewire.archive.tables`), Zstandard-compressed, the recording's metadata as
  JSON in each file's key-value metadata (``gazewire.recording``).
* ``bids``: :mod:`gazewire.archive.bids`.

Every file is written as ``<name>.<random>.partial`` (its own, so two exports into one
folder never write one file together) and renamed when complete; one that fails or is
interrupted is removed: an export that stops half way leaves no file that looks whole,
and a full disk gets its space back.
"""

from __future__ import annotations

import json
import os
import re
import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from gazewire.archive.base import Archive, ArchiveError, RecordingDetails
from gazewire.archive.tables import TABLES
from gazewire.wire.timeutil import iso_from_utc_us

FORMATS = ("csv", "parquet", "bids")
PARQUET_COMPRESSION = "zstd"
CSV_OPTIONS = pacsv.WriteOptions(quoting_style="needed")  # the HTTP API writes its CSV the same way
METADATA_KEY = b"gazewire.recording"
SELECTION_KEY = b"gazewire.selection"


class NothingToExport(ArchiveError):
    """The selection holds no recording or no sample (an empty range, no recording since the date)."""


class OutputExists(ArchiveError):
    """The output holds files already and overwriting was not asked for."""


class CannotWrite(ArchiveError):
    """The output cannot be written: a read-only or full filesystem, no permission."""

    def __init__(self, path: Path, error: OSError) -> None:
        reason = os.strerror(error.errno) if error.errno else str(error)
        super().__init__(f"cannot write {str(path)!r}: {reason}")


@dataclass(frozen=True)
class ExportItem:
    """One unit of output: a recording (possibly cut to a range) or a session's range."""

    session: str
    recording: str | None
    from_utc_us: int | None
    to_utc_us: int | None
    details: RecordingDetails | None
    stem: str  # file names start with it

    @property
    def samples(self) -> int | None:
        """Samples to expect (for the progress bar): a whole recording's; None when cut."""
        if self.details is None or self.from_utc_us is not None or self.to_utc_us is not None:
            return None
        return self.details.summary.samples

    def reader(self, archive: Archive, table: str, chunk_rows: int) -> Iterator[pa.RecordBatch]:
        read = getattr(archive, table)
        if self.recording is not None:
            return read(self.recording, from_utc_us=self.from_utc_us, to_utc_us=self.to_utc_us, chunk_rows=chunk_rows)
        return read(session=self.session, from_utc_us=self.from_utc_us, to_utc_us=self.to_utc_us,
                    chunk_rows=chunk_rows)

    def selection(self) -> dict[str, Any]:
        return {"session": self.session, "recording": self.recording,
                "from_utc_us": self.from_utc_us, "to_utc_us": self.to_utc_us}


def plan(
    archive: Archive,
    *,
    recording: str | None = None,
    session: str | None = None,
    from_utc_us: int | None = None,
    to_utc_us: int | None = None,
    since_utc_us: int | None = None,
    by_recording: bool = False,
) -> list[ExportItem]:
    """What an export writes: one recording; a session's time range (``by_recording``:
    each recording of the session that overlaps it, cut to it - what BIDS needs); or every
    recording since a time. Raises UnknownRecording/UnknownSession, or NothingToExport."""
    if recording is not None:
        details = archive.recording(recording)
        if session is not None and session != details.session:
            archive.gaze(recording, session=session)  # raises UnknownRecording naming the session
        item = ExportItem(details.session, recording, from_utc_us, to_utc_us, details,
                          _stem(details, from_utc_us, to_utc_us))
        _check_not_empty(archive, item)
        return [item]
    if session is not None and not by_recording:
        archive.gaze(session=session, from_utc_us=from_utc_us, to_utc_us=to_utc_us)  # checks the session, range
        item = ExportItem(session, None, from_utc_us, to_utc_us, None, _range_stem(session, from_utc_us, to_utc_us))
        _check_not_empty(archive, item)
        return [item]
    if session is not None:
        archive.gaze(session=session, from_utc_us=from_utc_us, to_utc_us=to_utc_us)
        summaries = [
            s for s in archive.recordings(session)
            if s.stop_utc_us is not None and s.start_utc_us is not None
            and (from_utc_us is None or s.stop_utc_us >= from_utc_us)
            and (to_utc_us is None or s.start_utc_us < to_utc_us)
        ]
        if not summaries:
            raise NothingToExport(f"no recording of session {session!r} in that range")
        items = []
        for summary in summaries:
            details = archive.recording(summary.id)
            cut_from = from_utc_us if from_utc_us is not None and from_utc_us > summary.start_utc_us else None
            cut_to = to_utc_us if to_utc_us is not None and to_utc_us <= summary.stop_utc_us else None
            items.append(ExportItem(session, summary.id, cut_from, cut_to, details, _stem(details, cut_from, cut_to)))
        return items
    if since_utc_us is None:
        raise NothingToExport("choose a recording, a session, or a time to export every recording since")
    summaries = archive.recordings(since_utc_us=since_utc_us)
    if not summaries:
        raise NothingToExport(f"no recording since {iso_from_utc_us(since_utc_us)} in {archive.description}")
    return [
        ExportItem(s.session, s.id, None, None, details, _stem(details, None, None))
        for s in summaries
        for details in [archive.recording(s.id)]
    ]


def _check_not_empty(archive: Archive, item: ExportItem) -> None:
    first = next(item.reader(archive, "gaze", 1), None)
    if first is None:
        what = f"recording {item.recording!r}" if item.recording else f"session {item.session!r}"
        span = ""
        if item.from_utc_us is not None or item.to_utc_us is not None:
            start = iso_from_utc_us(item.from_utc_us) if item.from_utc_us is not None else "its start"
            end = iso_from_utc_us(item.to_utc_us) if item.to_utc_us is not None else "its end"
            span = f" from {start} to {end}"
        raise NothingToExport(f"{what} has no sample{span}")


def _stem(details: RecordingDetails, from_utc_us: int | None, to_utc_us: int | None) -> str:
    name = details.summary.name
    safe = re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-._")[:64] if name else ""
    stem = f"{details.session}_{details.id}" + (f"_{safe}" if safe else "")
    if from_utc_us is not None or to_utc_us is not None:
        stem += "_" + _span_text(from_utc_us, to_utc_us)
    return stem


def _range_stem(session: str, from_utc_us: int | None, to_utc_us: int | None) -> str:
    return f"{session}_" + _span_text(from_utc_us, to_utc_us)


def _span_text(from_utc_us: int | None, to_utc_us: int | None) -> str:
    def part(value: int | None, empty: str) -> str:
        if value is None:
            return empty
        return iso_from_utc_us(value).replace(":", "").replace("-", "").replace(".", "_")

    return f"{part(from_utc_us, 'start')}-{part(to_utc_us, 'end')}"


# --------------------------------------------------------------------------- writing


Progress = Callable[[int], None]  # samples written since the last call


@dataclass
class ExportResult:
    files: list[Path] = field(default_factory=list)
    samples: int = 0
    rows: dict[str, int] = field(default_factory=dict)  # per table


def check_output(output: Path, force: bool) -> None:
    """Refuse an output directory that holds anything, unless ``force``."""
    if output.exists() and not output.is_dir():
        raise OutputExists(f"{str(output)!r} is a file, not a directory")
    if not force and output.is_dir() and any(output.iterdir()):
        raise OutputExists(f"{str(output)!r} is not empty: choose another folder, or --force to overwrite")


def export(
    archive: Archive,
    items: list[ExportItem],
    output: Path,
    fmt: str,
    *,
    force: bool = False,
    chunk_rows: int = 65_536,
    progress: Progress | None = None,
    **bids_options: Any,
) -> ExportResult:
    """Write ``items`` to the folder ``output`` in ``fmt`` (``csv``, ``parquet``, ``bids``)."""
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    check_output(output, force)
    created = not output.exists()
    try:
        output.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise CannotWrite(output, error) from None
    try:
        return _export(archive, items, output, fmt, chunk_rows=chunk_rows, progress=progress, **bids_options)
    except BaseException:
        if created:
            _remove_empty(output)  # a refused export leaves no folder behind that it made
        raise


def _remove_empty(folder: Path) -> None:
    """Remove ``folder`` and the folders below it if no file is left in any of them."""
    for below in sorted((p for p in folder.rglob("*") if p.is_dir()), key=lambda p: len(p.parts), reverse=True):
        try:
            below.rmdir()
        except OSError:
            return  # a file is left: keep the tree
    try:
        folder.rmdir()
    except OSError:
        pass


def _export(archive: Archive, items: list[ExportItem], output: Path, fmt: str, *, chunk_rows: int,
            progress: Progress | None, **bids_options: Any) -> ExportResult:
    result = ExportResult()
    if fmt == "bids":
        from gazewire.archive.bids import write_bids

        return write_bids(archive, items, output, chunk_rows=chunk_rows, progress=progress, result=result,
                          **bids_options)
    write = _write_csv if fmt == "csv" else _write_parquet
    for item in items:
        meta = {"selection": item.selection(), "recording": item.details.to_dict() if item.details else None}
        for table in TABLES:
            path = output / f"{item.stem}_{table}.{fmt}"
            rows = write(item.reader(archive, table, chunk_rows), TABLES[table], path, table, meta,
                         progress if table == "gaze" else None)
            result.files.append(path)
            result.rows[table] = result.rows.get(table, 0) + rows
            if table == "gaze":
                result.samples += rows
        if fmt == "csv":
            path = output / f"{item.stem}.json"
            write_atomically(path, (json.dumps(meta, indent=2) + "\n").encode())
            result.files.append(path)
    return result


def _write_csv(chunks: Iterator[pa.RecordBatch], schema: pa.Schema, path: Path, table: str,
               meta: dict[str, Any], progress: Progress | None) -> int:
    rows = 0
    with written(path) as partial, pa.OSFile(str(partial), "wb") as sink, \
            pacsv.CSVWriter(sink, schema, write_options=CSV_OPTIONS) as writer:
        for chunk in chunks:
            writer.write_batch(chunk)
            rows += len(chunk)
            if progress:
                progress(len(chunk))
    return rows


def _write_parquet(chunks: Iterator[pa.RecordBatch], schema: pa.Schema, path: Path, table: str,
                   meta: dict[str, Any], progress: Progress | None) -> int:
    rows = 0
    described = schema.with_metadata({
        METADATA_KEY: json.dumps(meta["recording"]).encode(),
        SELECTION_KEY: json.dumps(meta["selection"]).encode(),
        b"gazewire.table": table.encode(),
    })
    with written(path) as partial, \
            pq.ParquetWriter(str(partial), described, compression=PARQUET_COMPRESSION) as writer:
        for chunk in chunks:
            writer.write_batch(chunk)
            rows += len(chunk)
            if progress:
                progress(len(chunk))
    return rows


@contextmanager
def written(path: Path) -> Iterator[Path]:
    """A new partial file beside ``path`` to write it through: renamed to ``path`` when the
    block ends, removed when the block fails or is interrupted (Ctrl-C). The partial's name
    is its own (``<name>.<random>.partial``), so two exports of one file never write into
    one partial. An OSError (a full or read-only disk) becomes :class:`CannotWrite`."""
    partial = path.with_name(f"{path.name}.{secrets.token_hex(4)}.partial")
    try:
        partial.open("xb").close()  # created here, with the umask's mode (not mkstemp's 0600)
    except OSError as error:
        raise CannotWrite(path, error) from None
    try:
        yield partial
        os.replace(partial, path)
    except BaseException as error:
        partial.unlink(missing_ok=True)
        if isinstance(error, OSError) and not isinstance(error, ArchiveError):
            raise CannotWrite(path, error) from None
        raise


def write_atomically(path: Path, data: bytes) -> None:
    with written(path) as partial:
        partial.write_bytes(data)


def recording_metadata(path: Path | str) -> dict[str, Any] | None:
    """The recording's metadata from a Parquet file ``gazewire export`` wrote."""
    found = pq.read_schema(str(path)).metadata or {}
    value = found.get(METADATA_KEY)
    return json.loads(value) if value else None

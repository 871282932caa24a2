"""The tables the archive yields, as Arrow schemas - defined once, here - and the
builders that turn decoded rows into Arrow record batches of bounded size.

Column names are the wire contract's (``BATCH_COLUMNS`` of ``gaze/batch``, the
fields of ``Marker``, ``FixationEvent``, ``SaccadeEvent``, ``PursuitEvent``,
``BlinkEvent``, ``Alert``), so a column means what it means everywhere in gazewire
(docs/protocol.md). Times are UTC microseconds (``int64``), exact; a missing value
(an invalid eye, a field an event does not have) is null, never NaN.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import pyarrow as pa

from gazewire.wire.messages import BATCH_COLUMNS

DEFAULT_CHUNK_ROWS = 65_536  # rows per record batch: ~12 MB of gaze, whatever the recording's length


def _gaze_type(name: str) -> pa.DataType:
    if name in ("seq", "device_time_us", "system_time_us", "utc_us"):
        return pa.int64()
    if name == "eye":
        return pa.string()
    if name.endswith("_valid"):
        return pa.int8()  # 0/1, as the agent sends and writes them
    return pa.float64()


GAZE_SCHEMA = pa.schema(
    [pa.field(name, _gaze_type(name), nullable=name not in ("seq", "utc_us", "eye")) for name in BATCH_COLUMNS]
    + [pa.field("recording", pa.string())]
)
"""One row per sample: the columns of ``gaze/batch`` and the sample's recording (null between recordings)."""

MARKER_SCHEMA = pa.schema([
    pa.field("utc_us", pa.int64(), nullable=False),
    pa.field("name", pa.string(), nullable=False),
    pa.field("system_time_us", pa.int64()),
    pa.field("source", pa.string()),
    pa.field("recording", pa.string()),
])
"""One row per marker (``Marker``; ``utc_us`` is its ``utc_ns`` // 1000, as in the agent's CSV)."""

FIXATION_SCHEMA = pa.schema([
    pa.field("fixation", pa.int64(), nullable=False),
    pa.field("start_utc_us", pa.int64(), nullable=False),
    pa.field("end_utc_us", pa.int64(), nullable=False),
    pa.field("duration_ms", pa.float64(), nullable=False),
    pa.field("x", pa.float64()),
    pa.field("y", pa.float64()),
    pa.field("x_deg", pa.float64()),
    pa.field("y_deg", pa.float64()),
    pa.field("dispersion_deg", pa.float64()),
    pa.field("samples", pa.int64()),
    pa.field("algorithm", pa.string()),
    pa.field("interrupted", pa.bool_()),
    pa.field("recording", pa.string()),
])
"""One row per ended fixation (``FixationEvent`` with ``event`` ``end``; retracted tentative starts left out)."""

MOVEMENT_KINDS: tuple[str, ...] = ("saccade", "pursuit", "blink")

MOVEMENT_SCHEMA = pa.schema([
    pa.field("kind", pa.string(), nullable=False),  # saccade, pursuit or blink
    pa.field("number", pa.int64(), nullable=False),  # the saccade, pursuit or blink number
    pa.field("start_utc_us", pa.int64(), nullable=False),
    pa.field("end_utc_us", pa.int64(), nullable=False),
    pa.field("duration_ms", pa.float64(), nullable=False),
    pa.field("amplitude_deg", pa.float64()),
    pa.field("peak_velocity_deg_s", pa.float64()),
    pa.field("mean_velocity_deg_s", pa.float64()),
    pa.field("direction_deg", pa.float64()),
    pa.field("start_x", pa.float64()),
    pa.field("start_y", pa.float64()),
    pa.field("end_x", pa.float64()),
    pa.field("end_y", pa.float64()),
    pa.field("pso_duration_ms", pa.float64()),
    pa.field("samples", pa.int64()),
    pa.field("algorithm", pa.string()),
    pa.field("recording", pa.string()),
])
"""One row per saccade, smooth pursuit or blink (``SaccadeEvent``, ``PursuitEvent``,
``BlinkEvent``: a field the kind does not have is null)."""

ALERT_SCHEMA = pa.schema([
    pa.field("utc_us", pa.int64(), nullable=False),
    pa.field("type", pa.string(), nullable=False),
    pa.field("state", pa.string(), nullable=False),
    pa.field("severity", pa.string(), nullable=False),
    pa.field("details", pa.string()),  # JSON object
    pa.field("recording", pa.string()),
])
"""One row per alert message (``raised`` and ``cleared``); ``details`` as JSON text."""

TABLES: dict[str, pa.Schema] = {
    "gaze": GAZE_SCHEMA,
    "markers": MARKER_SCHEMA,
    "fixations": FIXATION_SCHEMA,
    "movements": MOVEMENT_SCHEMA,
    "alerts": ALERT_SCHEMA,
}
"""Every table the archive yields, by the name of its reader."""


class ColumnChunker:
    """Collects columns (lists of Python values, as decoded JSON gives them) and
    yields Arrow record batches of up to ``rows`` rows: the memory a reader holds is
    one chunk, whatever the length of what it reads."""

    def __init__(self, schema: pa.Schema, rows: int = DEFAULT_CHUNK_ROWS) -> None:
        if rows < 1:
            raise ValueError(f"chunk rows must be at least 1, got {rows}")
        self.schema = schema
        self.rows = rows
        self._names = schema.names
        self._columns: dict[str, list[Any]] = {name: [] for name in self._names}
        self._count = 0

    def add(self, columns: dict[str, Sequence[Any]], count: int) -> Iterator[pa.RecordBatch]:
        """Add ``count`` rows (every column of the schema, each a sequence of ``count``
        values); yields the chunks that became full."""
        start = 0
        while start < count:
            take = min(count - start, self.rows - self._count)
            for name in self._names:
                values = columns[name]
                if start == 0 and take == count:
                    self._columns[name].extend(values)
                else:
                    self._columns[name].extend(values[start:start + take])
            self._count += take
            start += take
            if self._count >= self.rows:
                yield self._flush()

    def add_rows(self, rows: Iterable[dict[str, Any]]) -> Iterator[pa.RecordBatch]:
        """Add rows given as dicts (events: a missing key is null)."""
        for row in rows:
            for name in self._names:
                self._columns[name].append(row.get(name))
            self._count += 1
            if self._count >= self.rows:
                yield self._flush()

    def finish(self) -> Iterator[pa.RecordBatch]:
        """The last, partial chunk (nothing when no rows are left)."""
        if self._count:
            yield self._flush()

    def _flush(self) -> pa.RecordBatch:
        arrays = [pa.array(self._columns[f.name], type=f.type) for f in self.schema]
        self._columns = {name: [] for name in self._names}
        self._count = 0
        return pa.RecordBatch.from_arrays(arrays, schema=self.schema)


def rechunk(batches: Iterator[pa.RecordBatch], rows: int) -> Iterator[pa.RecordBatch]:
    """The same rows in record batches of ``rows`` rows (the last one fewer)."""
    if rows < 1:
        raise ValueError(f"chunk rows must be at least 1, got {rows}")
    waiting: list[pa.RecordBatch] = []
    count = 0
    for batch in batches:
        while len(batch):
            take = min(rows - count, len(batch))
            waiting.append(batch.slice(0, take))
            count += take
            batch = batch.slice(take)
            if count == rows:
                yield _combine(waiting)
                waiting, count = [], 0
    if count:
        yield _combine(waiting)


def _combine(batches: list[pa.RecordBatch]) -> pa.RecordBatch:
    if len(batches) == 1:
        return batches[0]
    return pa.Table.from_batches(batches).combine_chunks().to_batches()[0]


"""Tables as bytes, one chunk at a time: the response bodies of the data endpoints.

Each encoder takes the archive's record batches (an iterator: one chunk in memory
at a time) and yields the bytes of the response as they are made, so a download of
any length holds one chunk, never the whole table. All the work is Arrow's (C++):

* ``csv``: a header line, then one line per row, as ``gazewire export`` writes it
  (pyarrow's CSV writer: numbers in their shortest exact form, a null is an empty
  field, text quoted only where needed).
* ``parquet``: row groups of about 65 536 rows (a few chunks), Zstandard-compressed, typed; the file's
  key-value metadata holds what the caller passes (the recording's details). A
  Parquet file is readable only once complete (its footer comes last).
* ``json``: NDJSON (``application/x-ndjson``): one JSON object per line, the
  columns as keys in table order, a null as ``null``. Chosen over one JSON array
  because a line is a complete record: a client reads it line by line without a
  streaming JSON parser, and a cut-off download loses a line, not the document.
  Built column by column with Arrow's compute functions, not row by row.
* ``arrow``: the Arrow IPC stream format (``application/vnd.apache.arrow.stream``),
  one record batch per chunk: the cheapest for the server and for a DataFrame
  (the client library uses it).

Nothing is sent before the first chunk has been read (a header goes with it), so
an error in reading the first chunk is still an HTTP error status. A download cut
off midway (a damaged record, the server stopping) ends the HTTP
response without its last chunk, which every HTTP client reports as an error:
a partial table never looks complete.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from enum import Enum

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc


class Format(str, Enum):
    CSV = "csv"
    PARQUET = "parquet"
    JSON = "json"
    ARROW = "arrow"

    @property
    def media_type(self) -> str:
        return MEDIA_TYPES[self]

    @property
    def suffix(self) -> str:
        return {Format.JSON: "ndjson", Format.ARROW: "arrows"}.get(self, self.value)


MEDIA_TYPES = {
    Format.CSV: "text/csv; charset=utf-8",
    Format.PARQUET: "application/vnd.apache.parquet",
    Format.JSON: "application/x-ndjson",
    Format.ARROW: "application/vnd.apache.arrow.stream",
}

PARQUET_ROW_GROUP_ROWS = 65_536  # chunks are gathered into row groups of about this many rows


class _Drain:
    """A write-only file for Arrow's writers whose bytes are taken out as they come."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> int:
        self._parts.append(bytes(data))
        return len(data)

    def flush(self) -> None:
        pass

    def close(self) -> None:
        self.closed = True

    def take(self) -> bytes:
        out = b"".join(self._parts)
        self._parts.clear()
        return out


def encode(format: Format, schema: pa.Schema, batches: Iterable[pa.RecordBatch], *,
           metadata: Mapping[str, str] | None = None) -> Iterator[bytes]:
    """The body of a download in ``format``: bytes as each chunk is encoded."""
    encoder = {Format.CSV: _csv, Format.PARQUET: _parquet, Format.JSON: _ndjson, Format.ARROW: _arrow}[format]
    return encoder(schema, batches, metadata or {})


def _csv(schema: pa.Schema, batches: Iterable[pa.RecordBatch], metadata: Mapping[str, str]) -> Iterator[bytes]:
    import pyarrow.csv as csv

    from gazewire.archive.export import CSV_OPTIONS

    drain = _Drain()
    writer = csv.CSVWriter(drain, schema, write_options=CSV_OPTIONS)  # the header: sent with the first rows (or alone, for an empty range)
    for batch in batches:
        writer.write_batch(batch)
        yield drain.take()
    writer.close()
    if rest := drain.take():
        yield rest


def _parquet(schema: pa.Schema, batches: Iterable[pa.RecordBatch], metadata: Mapping[str, str]) -> Iterator[bytes]:
    import pyarrow.parquet as pq

    from gazewire.archive.export import PARQUET_COMPRESSION

    drain = _Drain()
    described = schema.with_metadata({**(schema.metadata or {}), **{k.encode(): v.encode() for k, v in metadata.items()}})
    writer = pq.ParquetWriter(drain, described, compression=PARQUET_COMPRESSION)
    group: list[pa.RecordBatch] = []
    rows = 0
    for batch in batches:
        group.append(batch)
        rows += batch.num_rows
        if rows >= PARQUET_ROW_GROUP_ROWS:  # Arrow's columns are compact: a few chunks cost little
            writer.write_table(pa.Table.from_batches(group, schema=schema), row_group_size=rows)
            group, rows = [], 0
            yield drain.take()
    if group:
        writer.write_table(pa.Table.from_batches(group, schema=schema), row_group_size=rows)
    writer.close()  # the footer
    yield drain.take()


def _arrow(schema: pa.Schema, batches: Iterable[pa.RecordBatch], metadata: Mapping[str, str]) -> Iterator[bytes]:
    drain = _Drain()
    described = schema.with_metadata({**(schema.metadata or {}), **{k.encode(): v.encode() for k, v in metadata.items()}})
    writer = pa.ipc.new_stream(drain, described)  # the schema: sent with the first batch
    for batch in batches:
        writer.write_batch(batch)
        yield drain.take()
    writer.close()
    yield drain.take()


def _ndjson(schema: pa.Schema, batches: Iterable[pa.RecordBatch], metadata: Mapping[str, str]) -> Iterator[bytes]:
    for batch in batches:
        if batch.num_rows:
            yield ndjson_lines(batch)


def ndjson_lines(batch: pa.RecordBatch) -> bytes:
    """One JSON object per row, each ending in a newline."""
    pieces: list[pa.Array | str] = []
    for index, field in enumerate(batch.schema):
        prefix = ("{" if index == 0 else ",") + json.dumps(field.name) + ":"
        pieces += [prefix, json_values(batch.column(index))]
    pieces.append("}\n")
    lines = pc.binary_join_element_wise(*pieces, "")
    return _concatenated(lines)


def json_values(column: pa.Array) -> pa.Array:
    """Each value of ``column`` as JSON text (``null`` for a null)."""
    kind = column.type
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        text = _json_strings(column)
    elif pa.types.is_boolean(kind):
        text = pc.if_else(column, "true", "false")
    elif pa.types.is_floating(kind):
        finite = pc.is_finite(column)  # JSON has no NaN or infinity: null, like a missing value
        text = pc.if_else(finite, pc.cast(column, pa.string()), pa.scalar(None, pa.string()))
    elif pa.types.is_integer(kind):
        text = pc.cast(column, pa.string())
    else:
        text = pa.array([None if v is None else json.dumps(v, default=str) for v in column.to_pylist()], pa.string())
    return pc.fill_null(text, "null")


def _json_strings(column: pa.Array) -> pa.Array:
    """JSON string literals, escaped by ``json.dumps`` once per distinct value
    (columns such as ``eye``, ``recording`` or a marker's name repeat a few values)."""
    encoded = pc.dictionary_encode(column)
    quoted = pa.array([json.dumps(value) for value in encoded.dictionary.to_pylist()], pa.string())
    indices = encoded.indices
    return pc.take(quoted, indices)


def _concatenated(lines: pa.Array) -> bytes:
    """The bytes of a string array without nulls, back to back (its data buffer, not row by row)."""
    if len(lines) == 0:
        return b""
    dtype = np.int64 if pa.types.is_large_string(lines.type) else np.int32
    offsets = np.frombuffer(lines.buffers()[1], dtype=dtype)[lines.offset:lines.offset + len(lines) + 1]
    first, last = int(offsets[0]), int(offsets[-1])
    return lines.buffers()[2].slice(first, last - first).to_pybytes()

"""What the journal holds, as plain values: records, their encoding on disk, and the
custody ranges that confirm them. Pure: no files, no clocks.

A record is one thing the processor took or derived, as JSON:

* ``batch``: a gaze batch exactly as the agent sent it (its original JSON bytes:
  lossless, every value as the agent wrote it), keyed by ``(session, run,
  batch_seq)`` so a batch delivered twice is held once;
* ``status``, ``marker``: an agent status (with the time it arrived) or a marker;
* ``fixation``, ``alert``, ``visit``: what detection produced (fixation start and
  end events, alerts raised and cleared, ended AOI visits), so a sink that replays
  the journal writes exactly the points the live processor wrote.

On disk the JSON is compressed with Zstandard (level 1: ~3x smaller for gaze batches
at ~1 µs per sample) and carries a CRC-32 of the uncompressed bytes, checked whenever
a record is read back; a record that fails it is corrupt, never silently used.
"""

from __future__ import annotations

import threading
import zlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

import zstandard

from gazewire.errors import GazewireError

CODEC_RAW = 0
CODEC_ZSTD = 1
COMPRESS_ABOVE_BYTES = 256  # smaller bodies (events, markers) are stored as they are
ZSTD_LEVEL = 1


class JournalError(GazewireError):
    """The journal cannot be opened, read or written."""


class CorruptRecord(JournalError):
    """A record's bytes do not match its checksum, or do not decompress."""

    def __init__(self, message: str, position: int = 0) -> None:
        super().__init__(message)
        self.position = position


class RecordKind(str, Enum):
    BATCH = "batch"
    STATUS = "status"
    MARKER = "marker"
    FIXATION = "fixation"
    ALERT = "alert"
    VISIT = "visit"
    SACCADE = "saccade"
    PURSUIT = "pursuit"
    BLINK = "blink"


@dataclass(frozen=True, slots=True)
class Record:
    """One record, before it is stored (``position`` 0) or as read back."""

    session: str
    kind: RecordKind
    body: bytes  # JSON, uncompressed
    received_utc_us: int
    first_utc_us: int | None = None  # time range of the data (a batch's first and last sample)
    last_utc_us: int | None = None
    run: str | None = None  # batches: the agent run, batch number, first sample number, samples
    batch_seq: int | None = None
    first_seq: int | None = None
    samples: int = 0
    recording: str | None = None  # the recording of the batch, marker or event (null between recordings)
    position: int = 0  # the journal's order: assigned when stored, never reused
    # The parsed message the body was made from, when at hand (never stored): spares a sink
    # that is caught up parsing the JSON again.
    value: Any = field(default=None, compare=False, repr=False)
    # ``pack(body)``, when it was done already (a batch packed on arrival, off the processing
    # thread); the journal stores it as it is. Not kept once stored.
    packed: Packed | None = field(default=None, compare=False, repr=False)

    @property
    def key(self) -> tuple[str, str, int] | None:
        """``(session, run, batch_seq)`` of a batch (run "" when the agent sent none)."""
        if self.kind is not RecordKind.BATCH or self.batch_seq is None:
            return None
        return (self.session, self.run or "", self.batch_seq)


# --------------------------------------------------------------------------- encoding

Packed = tuple[int, bytes, int]
"""``(codec, stored bytes, crc32)``: a record's body as the journal stores it."""

_local = threading.local()  # a zstd compressor may not be used by two threads at once: one each


def pack(body: bytes) -> Packed:
    """``(codec, stored bytes, crc32)`` of a record's JSON body. Any thread may call it (each
    has its own compressor), mostly without the GIL: zstd and crc32 release it."""
    crc = zlib.crc32(body)
    if len(body) > COMPRESS_ABOVE_BYTES:
        compressor = getattr(_local, "compressor", None)
        if compressor is None:
            compressor = _local.compressor = zstandard.ZstdCompressor(level=ZSTD_LEVEL)
        return CODEC_ZSTD, compressor.compress(body), crc
    return CODEC_RAW, body, crc


def unpack(codec: int, stored: bytes, crc: int) -> bytes:
    """The JSON body back; raises CorruptRecord if it does not match its checksum."""
    if codec == CODEC_RAW:
        body = bytes(stored)
    elif codec == CODEC_ZSTD:
        try:
            body = zstandard.ZstdDecompressor().decompress(stored)
        except zstandard.ZstdError as error:
            raise CorruptRecord(f"record does not decompress: {error}") from None
    else:
        raise CorruptRecord(f"unknown codec {codec}")
    if zlib.crc32(body) != crc:
        raise CorruptRecord("record does not match its checksum")
    return body


# --------------------------------------------------------------------------- custody ranges


def ranges(numbers: Iterable[int]) -> list[list[int]]:
    """Inclusive ``[first, last]`` ranges covering ``numbers``: ``[1, 2, 3, 7]`` -> ``[[1, 3], [7, 7]]``."""
    out: list[list[int]] = []
    for number in sorted(set(numbers)):
        if out and number == out[-1][1] + 1:
            out[-1][1] = number
        else:
            out.append([number, number])
    return out


def in_ranges(number: int, spans: Iterable[Iterable[int]]) -> bool:
    return any(first <= number <= last for first, last in spans)

"""The durable outbox: lossless batches wait on disk until the broker has them.

A batch is written here (SQLite, WAL journal) *before* it is sent, and leaves
only after the broker's PUBACK. After a reconnect or a restart the backlog is
sent again in ``batch_seq`` order. The outbox is bounded by size and age; when
it is full the oldest batches are evicted, and every evicted batch and sample
is counted, never silently lost.

A batch is stored zstd-compressed (level 1: about 2.7 times smaller, ~70 µs per
1200 Hz batch) and read back as sent. The payload says how it is stored: a zstd
frame begins with ``ZSTD_MAGIC``, a JSON batch with ``{``; so the uncompressed
batches an older agent left in its outbox are sent as they are after an upgrade.
(An older agent cannot read the compressed ones: send the backlog before a
downgrade, or delete the outbox.) Sizes (``size_bytes``, ``max_bytes``) are the
stored, compressed bytes.

The same database keeps the session's sequence counters, so ``seq`` and
``batch_seq`` continue across agent restarts instead of starting again at 0.

A failing disk (full, read-only, gone) never escapes as anything but
:class:`OutboxError`: a failed write leaves the database as it was, and an
outbox that cannot be opened at start stays closed (``error`` says why) until
:meth:`Outbox.reopen` succeeds. The agent meanwhile sends its batches without
the outbox, and counts them.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import zstandard

from gazewire.agent.outputs.disk import disk_problem
from gazewire.errors import GazewireError

log = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS batches (
    batch_seq  INTEGER PRIMARY KEY,
    topic      TEXT    NOT NULL,
    payload    BLOB    NOT NULL,
    samples    INTEGER NOT NULL,
    created_s  REAL    NOT NULL
);
CREATE INDEX IF NOT EXISTS batches_by_age ON batches (created_s);
CREATE TABLE IF NOT EXISTS counters (
    name  TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS notes (
    name  TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
"""


ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"  # how every zstd frame begins
COMPRESS_ABOVE_BYTES = 512  # smaller payloads are stored as they are


def _stored(payload: bytes, compressor: zstandard.ZstdCompressor) -> bytes:
    if len(payload) <= COMPRESS_ABOVE_BYTES:
        return payload
    compressed = compressor.compress(payload)
    return compressed if len(compressed) < len(payload) else payload


def _sent(stored: bytes) -> bytes:
    """The payload as it was appended (an older agent's rows are stored as they are)."""
    if stored.startswith(ZSTD_MAGIC):
        return zstandard.ZstdDecompressor().decompress(stored)
    return stored


@dataclass(frozen=True, slots=True)
class OutboxBatch:
    batch_seq: int
    topic: str
    payload: bytes
    samples: int


@dataclass(frozen=True, slots=True)
class Backlog:
    """What waits in the outbox: ``batches`` holding ``samples``, written
    between ``oldest_s`` and ``newest_s`` (Unix time), up to ``last_batch_seq``."""

    batches: int
    samples: int
    oldest_s: float
    newest_s: float
    last_batch_seq: int


@dataclass(frozen=True, slots=True)
class Eviction:
    batches: int
    samples: int
    reason: str


class OutboxError(GazewireError):
    """The outbox database cannot be opened or written."""


class Outbox:
    """Thread-safe: the pipeline thread appends, the sender thread reads and removes."""

    def __init__(
        self,
        path: Path,
        *,
        max_bytes: int = 512 * 1024 * 1024,
        max_age_s: float = 72 * 3600,
        synchronous: Literal["full", "normal"] = "full",
        clock=time.time,
        reopen_s: float = 5.0,
    ) -> None:
        if max_bytes <= 0:
            raise ValueError(f"max_bytes must be > 0, got {max_bytes}")
        if max_age_s <= 0:
            raise ValueError(f"max_age_s must be > 0, got {max_age_s}")
        self.path = Path(path)
        self.max_bytes = max_bytes
        self.max_age_s = max_age_s
        self.synchronous = synchronous
        self.reopen_s = reopen_s
        self._clock = clock
        self._lock = threading.Lock()
        self._compressor = zstandard.ZstdCompressor(level=1)  # not thread-safe: used under the lock
        self._db: sqlite3.Connection | None = None
        self._depth = 0
        self._bytes = 0
        self._reopen_at = 0.0
        self.evicted_batches = 0
        self.evicted_samples = 0
        self.error: str | None = None  # why the outbox is closed; None while it is open
        self._open()

    def _open(self) -> bool:
        db = None
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(str(self.path), check_same_thread=False, isolation_level=None)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute(f"PRAGMA synchronous={self.synchronous.upper()}")
            db.executescript(_SCHEMA)
            row = db.execute("SELECT COUNT(*), COALESCE(SUM(LENGTH(payload)), 0) FROM batches").fetchone()
        except (sqlite3.Error, OSError) as error:
            if db is not None:
                db.close()
            self.error = f"cannot open outbox {str(self.path)!r}: {_reason(error)}{disk_problem(self.path)}"
            self._reopen_at = time.monotonic() + self.reopen_s
            return False
        self._db = db
        self._depth, self._bytes = int(row[0]), int(row[1])
        self.error = None
        return True

    @property
    def is_open(self) -> bool:
        return self._db is not None

    def reopen(self) -> bool:
        """Try again to open an outbox that could not be opened (at most every
        ``reopen_s``); True once it is open."""
        with self._lock:
            if self._db is not None:
                return True
            if time.monotonic() < self._reopen_at:
                return False
            return self._open()

    # ------------------------------------------------------------------ counters

    def counter(self, name: str) -> int:
        """A stored counter (0 if never stored). Readable from a closed outbox
        when its file is (a read-only disk); raises :class:`OutboxError` when not."""
        with self._lock:
            try:
                if self._db is not None:
                    row = self._db.execute("SELECT value FROM counters WHERE name = ?", (name,)).fetchone()
                else:
                    row = self._read_only_counter(name)
            except (sqlite3.Error, OSError) as error:
                raise OutboxError(f"cannot read outbox {str(self.path)!r}: {_reason(error)}") from None
        return int(row[0]) if row else 0

    def _read_only_counter(self, name: str) -> tuple[int] | None:
        if not self.path.is_file():
            return None
        uri = self.path.resolve().as_uri()
        for mode in ("mode=ro", "immutable=1"):  # immutable: no -shm can be made on a read-only disk
            try:
                db = sqlite3.connect(f"{uri}?{mode}", uri=True)
            except sqlite3.Error:
                continue
            try:
                return db.execute("SELECT value FROM counters WHERE name = ?", (name,)).fetchone()
            except sqlite3.Error:
                continue
            finally:
                db.close()
        raise OutboxError(f"cannot read outbox {str(self.path)!r}")

    def note(self, name: str) -> str | None:
        """A text noted with :meth:`set_note` (e.g. the broker the batches are
        for), None if none was, or the outbox is closed."""
        with self._lock:
            if self._db is None:
                return None
            try:
                row = self._db.execute("SELECT value FROM notes WHERE name = ?", (name,)).fetchone()
            except sqlite3.Error:
                return None
        return str(row[0]) if row else None

    def set_note(self, name: str, value: str) -> None:
        with self._lock:
            if self._db is None:
                raise OutboxError(self.error or "the outbox is closed")
            try:
                self._db.execute(
                    "INSERT INTO notes (name, value) VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET value = excluded.value",
                    (name, value),
                )
            except sqlite3.Error as error:
                raise OutboxError(f"cannot write outbox {str(self.path)!r}: {_reason(error)}") from None

    def backlog(self) -> Backlog | None:
        """The batches waiting, None if none (or the outbox is closed)."""
        with self._lock:
            if self._db is None:
                return None
            try:
                row = self._db.execute(
                    "SELECT COUNT(*), COALESCE(SUM(samples), 0), MIN(created_s), MAX(created_s), MAX(batch_seq) "
                    "FROM batches"
                ).fetchone()
            except sqlite3.Error as error:
                raise OutboxError(f"cannot read outbox {str(self.path)!r}: {_reason(error)}") from None
        if not row[0]:
            return None
        return Backlog(int(row[0]), int(row[1]), float(row[2]), float(row[3]), int(row[4]))

    def oldest_batch_seq(self) -> int | None:
        with self._lock:
            if self._db is None:
                return None
            try:
                row = self._db.execute("SELECT MIN(batch_seq) FROM batches").fetchone()
            except sqlite3.Error:
                return None
        return None if row[0] is None else int(row[0])

    # ------------------------------------------------------------------ batches

    def append(
        self, batch: OutboxBatch, *, next_seq: int
    ) -> list[Eviction]:
        """Store a batch durably together with the counters that follow it
        (one transaction), then evict what no longer fits. Raises
        :class:`OutboxError` (and stores nothing) when the disk fails."""
        with self._lock:
            db = self._db
            if db is None:
                raise OutboxError(self.error or "the outbox is closed")
            stored = _stored(batch.payload, self._compressor)
            try:
                db.execute("BEGIN IMMEDIATE")
                db.execute(
                    "INSERT INTO batches (batch_seq, topic, payload, samples, created_s) VALUES (?, ?, ?, ?, ?)",
                    (batch.batch_seq, batch.topic, stored, batch.samples, self._clock()),
                )
                db.executemany(
                    "INSERT INTO counters (name, value) VALUES (?, ?) "
                    "ON CONFLICT(name) DO UPDATE SET value = excluded.value",
                    [("next_batch_seq", batch.batch_seq + 1), ("next_seq", next_seq)],
                )
                db.execute("COMMIT")
            except sqlite3.Error as error:
                # SQLite may already have rolled back (a full disk at COMMIT does):
                # then ROLLBACK itself fails, and must not hide the real error.
                _rollback(db)
                raise OutboxError(f"cannot write outbox {str(self.path)!r}: {_reason(error)}") from None
            self._depth += 1
            self._bytes += len(stored)
            return self._evict_locked()

    def evict_expired(self) -> list[Eviction]:
        with self._lock:
            return self._evict_locked()

    def _evict_locked(self) -> list[Eviction]:
        """Evict what is too old or does not fit; a disk that refuses the
        deletes leaves the batches in place (tried again on the next call)."""
        if self._db is None:
            return []
        evictions: list[Eviction] = []
        try:
            self._evict_into(evictions)
        except sqlite3.Error as error:
            _rollback(self._db)
            log.warning("outbox eviction failed (%s); trying again later", _reason(error))
        return evictions

    def _evict_into(self, evictions: list[Eviction]) -> None:
        assert self._db is not None
        cutoff = self._clock() - self.max_age_s
        row = self._db.execute(
            "SELECT COUNT(*), COALESCE(SUM(samples), 0), COALESCE(SUM(LENGTH(payload)), 0) "
            "FROM batches WHERE created_s < ?",
            (cutoff,),
        ).fetchone()
        if row[0]:
            self._db.execute("DELETE FROM batches WHERE created_s < ?", (cutoff,))
            evictions.append(self._note_eviction(int(row[0]), int(row[1]), int(row[2]), "age"))
        while self._bytes > self.max_bytes and self._depth > 1:
            oldest = self._db.execute(
                "SELECT batch_seq, samples, LENGTH(payload) FROM batches ORDER BY batch_seq LIMIT 64"
            ).fetchall()
            doomed, freed = [], 0
            for batch_seq, samples, size in oldest:
                if self._bytes - freed <= self.max_bytes or self._depth - len(doomed) <= 1:
                    break
                doomed.append((batch_seq, samples))
                freed += size
            self._db.executemany("DELETE FROM batches WHERE batch_seq = ?", [(seq,) for seq, _ in doomed])
            evictions.append(self._note_eviction(len(doomed), sum(s for _, s in doomed), freed, "size"))

    def _note_eviction(self, batches: int, samples: int, size: int, reason: str) -> Eviction:
        self._depth -= batches
        self._bytes -= size
        self.evicted_batches += batches
        self.evicted_samples += samples
        log.warning("outbox full (%s): evicted %d oldest batches, %d samples", reason, batches, samples)
        return Eviction(batches, samples, reason)

    def pending(self, after_batch_seq: int, limit: int) -> list[OutboxBatch]:
        """Up to ``limit`` batches with ``batch_seq > after_batch_seq``, oldest first."""
        with self._lock:
            if self._db is None:
                return []
            try:
                rows = self._db.execute(
                    "SELECT batch_seq, topic, payload, samples FROM batches WHERE batch_seq > ? "
                    "ORDER BY batch_seq LIMIT ?",
                    (after_batch_seq, limit),
                ).fetchall()
            except sqlite3.Error as error:
                raise OutboxError(f"cannot read outbox {str(self.path)!r}: {_reason(error)}") from None
        return [OutboxBatch(int(seq), topic, _sent(bytes(payload)), int(samples)) for seq, topic, payload, samples in rows]

    def remove(self, batch_seq: int) -> bool:
        """Forget a batch the broker acknowledged. False if it was already gone
        (evicted). Raises :class:`OutboxError` when the disk refuses the delete."""
        with self._lock:
            if self._db is None:
                return False
            try:
                row = self._db.execute(
                    "SELECT LENGTH(payload) FROM batches WHERE batch_seq = ?", (batch_seq,)
                ).fetchone()
                if row is None:
                    return False
                self._db.execute("DELETE FROM batches WHERE batch_seq = ?", (batch_seq,))
            except sqlite3.Error as error:
                _rollback(self._db)
                raise OutboxError(f"cannot delete from outbox {str(self.path)!r}: {_reason(error)}") from None
            self._depth -= 1
            self._bytes -= int(row[0])
            return True

    def remove_ranges(self, spans: list[list[int]]) -> tuple[int, int]:
        """Forget the batches in the inclusive ``[first, last]`` ranges (a processor holds
        them: custody), in one transaction. Returns (batches, samples) removed."""
        with self._lock:
            if self._db is None or not spans:
                return 0, 0
            where = " OR ".join("batch_seq BETWEEN ? AND ?" for _ in spans)
            values = [number for span in spans for number in span]
            try:
                self._db.execute("BEGIN IMMEDIATE")
                row = self._db.execute(
                    f"SELECT COUNT(*), COALESCE(SUM(samples), 0), COALESCE(SUM(LENGTH(payload)), 0) "
                    f"FROM batches WHERE {where}", values,
                ).fetchone()
                self._db.execute(f"DELETE FROM batches WHERE {where}", values)
                self._db.execute("COMMIT")
            except sqlite3.Error as error:
                _rollback(self._db)
                raise OutboxError(f"cannot delete from outbox {str(self.path)!r}: {_reason(error)}") from None
            self._depth -= int(row[0])
            self._bytes -= int(row[2])
            return int(row[0]), int(row[1])

    @property
    def depth(self) -> int:
        return self._depth

    @property
    def size_bytes(self) -> int:
        return self._bytes

    def close(self) -> None:
        with self._lock:
            db, self._db = self._db, None
            if db is not None:
                try:
                    db.close()
                except sqlite3.Error as error:
                    log.warning("closing the outbox failed: %s", _reason(error))
            self.error = self.error or "the outbox is closed"


def _rollback(db: sqlite3.Connection) -> None:
    if db.in_transaction:
        try:
            db.execute("ROLLBACK")
        except sqlite3.Error:
            pass


def _reason(error: BaseException) -> str:
    if isinstance(error, OSError) and error.strerror:
        return error.strerror
    return str(error) or type(error).__name__

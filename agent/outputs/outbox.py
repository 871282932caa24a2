"""The durable outbox: lossless batches wait on disk until the broker has them.

A batch is written here (SQLite, WAL journal) *before* it is sent, and leaves
only after the broker's PUBACK. After a reconnect or a restart the backlog is
sent again in ``batch_seq`` order. The outbox is bounded by size and age; when
it is full the oldest batches are evicted, and every evicted batch and sample
is counted, never silently lost.

The same database keeps the session's sequence counters, so ``seq`` and
``batch_seq`` continue across agent restarts instead of starting again at 0.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

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
CREATE TABLE IF NOT EXISTS counters (
    name  TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
"""


@dataclass(frozen=True, slots=True)
class OutboxBatch:
    batch_seq: int
    topic: str
    payload: bytes
    samples: int


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
    ) -> None:
        if max_bytes <= 0:
            raise ValueError(f"max_bytes must be > 0, got {max_bytes}")
        if max_age_s <= 0:
            raise ValueError(f"max_age_s must be > 0, got {max_age_s}")
        self.path = Path(path)
        self.max_bytes = max_bytes
        self.max_age_s = max_age_s
        self._clock = clock
        self._lock = threading.Lock()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(str(self.path), check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute(f"PRAGMA synchronous={synchronous.upper()}")
            self._db.executescript(_SCHEMA)
        except sqlite3.Error as error:
            raise OutboxError(f"cannot open outbox {str(self.path)!r}: {error}") from None
        row = self._db.execute("SELECT COUNT(*), COALESCE(SUM(LENGTH(payload)), 0) FROM batches").fetchone()
        self._depth, self._bytes = int(row[0]), int(row[1])
        self.evicted_batches = 0
        self.evicted_samples = 0

    # ------------------------------------------------------------------ counters

    def counter(self, name: str) -> int:
        with self._lock:
            row = self._db.execute("SELECT value FROM counters WHERE name = ?", (name,)).fetchone()
        return int(row[0]) if row else 0

    # ------------------------------------------------------------------ batches

    def append(
        self, batch: OutboxBatch, *, next_seq: int
    ) -> list[Eviction]:
        """Store a batch durably together with the counters that follow it
        (one transaction), then evict what no longer fits."""
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                self._db.execute(
                    "INSERT INTO batches (batch_seq, topic, payload, samples, created_s) VALUES (?, ?, ?, ?, ?)",
                    (batch.batch_seq, batch.topic, batch.payload, batch.samples, self._clock()),
                )
                self._db.executemany(
                    "INSERT INTO counters (name, value) VALUES (?, ?) "
                    "ON CONFLICT(name) DO UPDATE SET value = excluded.value",
                    [("next_batch_seq", batch.batch_seq + 1), ("next_seq", next_seq)],
                )
                self._db.execute("COMMIT")
            except sqlite3.Error as error:
                self._db.execute("ROLLBACK")
                raise OutboxError(f"cannot write outbox {str(self.path)!r}: {error}") from None
            self._depth += 1
            self._bytes += len(batch.payload)
            return self._evict_locked()

    def evict_expired(self) -> list[Eviction]:
        with self._lock:
            return self._evict_locked()

    def _evict_locked(self) -> list[Eviction]:
        evictions = []
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
        return evictions

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
            rows = self._db.execute(
                "SELECT batch_seq, topic, payload, samples FROM batches WHERE batch_seq > ? "
                "ORDER BY batch_seq LIMIT ?",
                (after_batch_seq, limit),
            ).fetchall()
        return [OutboxBatch(int(seq), topic, bytes(payload), int(samples)) for seq, topic, payload, samples in rows]

    def remove(self, batch_seq: int) -> bool:
        """Forget a batch the broker acknowledged. False if it was already gone (evicted)."""
        with self._lock:
            row = self._db.execute(
                "SELECT LENGTH(payload) FROM batches WHERE batch_seq = ?", (batch_seq,)
            ).fetchone()
            if row is None:
                return False
            self._db.execute("DELETE FROM batches WHERE batch_seq = ?", (batch_seq,))
            self._depth -= 1
            self._bytes -= int(row[0])
            return True

    @property
    def depth(self) -> int:
        return self._depth

    @property
    def size_bytes(self) -> int:
        return self._bytes

    def close(self) -> None:
        with self._lock:
            self._db.close()

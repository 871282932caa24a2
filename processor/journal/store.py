"""The journal file: one SQLite database in WAL mode with ``synchronous=FULL``, so a
commit is on disk (fsync) when :meth:`Journal.append` returns, and a commit torn by
a crash is rolled back by SQLite when the file is opened again.

Tables:

* ``records``: every record in the order stored (``position``, never reused); the
  unique index ``(session, run, batch_seq)`` over batches makes a batch delivered
  twice land once; ``(session, recording, first_utc_us)`` makes one session's time
  range cheap to read (the archive, export);
* ``sessions``: each session's resumable state (sequence numbers, fixation number,
  what was open), written in the same transaction as the records it describes;
* ``checkpoints``: each sink's position (and, for the files sink, what it is about to
  append), so every sink resumes exactly where it stopped;
* ``meta``: counters that outlive the process (records evicted, corrupt records).

Each thread uses its own connection (WAL: readers never block the writer).
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gazewire.processor.journal.records import (
    CorruptRecord,
    JournalError,
    Record,
    RecordKind,
    pack,
    unpack,
)

log = logging.getLogger(__name__)

TAIL_CHECK_RECORDS = 2000  # records checked on start: the last commits, where a crash could hit
EVICT_CHUNK = 500
BUSY_TIMEOUT_MS = 10_000
SQLITE_FULL = 13

_SCHEMA = """
CREATE TABLE IF NOT EXISTS records (
    position        INTEGER PRIMARY KEY AUTOINCREMENT,
    session         TEXT    NOT NULL,
    recording       TEXT,
    kind            TEXT    NOT NULL,
    run             TEXT,
    batch_seq       INTEGER,
    first_seq       INTEGER,
    samples         INTEGER NOT NULL DEFAULT 0,
    first_utc_us    INTEGER,
    last_utc_us     INTEGER,
    received_utc_us INTEGER NOT NULL,
    codec           INTEGER NOT NULL,
    crc             INTEGER NOT NULL,
    body            BLOB    NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS records_batch ON records (session, run, batch_seq) WHERE kind = 'batch';
CREATE INDEX IF NOT EXISTS records_time ON records (session, recording, first_utc_us);
CREATE TABLE IF NOT EXISTS sessions (
    session        TEXT PRIMARY KEY,
    state          BLOB NOT NULL,
    updated_utc_us INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS checkpoints (
    sink     TEXT PRIMARY KEY,
    position INTEGER NOT NULL,
    intent   TEXT
);
CREATE TABLE IF NOT EXISTS meta (
    name  TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
"""

_COLUMNS = (
    "position, session, recording, kind, run, batch_seq, first_seq, samples, "
    "first_utc_us, last_utc_us, received_utc_us, codec, crc, body"
)


class JournalFull(JournalError):
    """The disk (or the journal's own size limit in SQLite) has no room for the commit."""


class JournalUnwritable(JournalError):
    """The journal cannot be written (I/O error, permissions, a missing directory)."""


@dataclass(frozen=True, slots=True)
class Eviction:
    records: int
    batches: int
    samples: int
    unsent: int  # records no sink had written yet
    reason: str


@dataclass(frozen=True, slots=True)
class Checkpoint:
    position: int
    intent: str | None = None


class Journal:
    def __init__(
        self,
        path: Path,
        *,
        max_bytes: int = 0,
        max_age_s: float = 0.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.path = Path(path).expanduser()
        self.max_bytes = max_bytes  # 0: no size limit
        self.max_age_s = max_age_s  # 0: kept for ever
        self._clock = clock
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._connections_lock = threading.Lock()
        self._writer_lock = threading.Lock()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            db = self._db()
            db.execute("PRAGMA auto_vacuum=INCREMENTAL")  # takes effect on a new file only
            db.executescript(_SCHEMA)
        except (OSError, sqlite3.Error) as error:
            raise JournalError(f"cannot open journal {str(self.path)!r}: {error}") from None
        self.dropped_on_start = self._check_tail()
        self.last_position = self._query_one("SELECT COALESCE(MAX(position), 0) FROM records")

    # ------------------------------------------------------------------ connections

    def _db(self) -> sqlite3.Connection:
        db = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(str(self.path), isolation_level=None, check_same_thread=False)
            db.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")
            self._local.db = db
            with self._connections_lock:
                self._connections.append(db)
        return db

    def _query_one(self, sql: str, parameters: Sequence[Any] = ()) -> Any:
        row = self._db().execute(sql, parameters).fetchone()
        return row[0] if row else None

    def close(self) -> None:
        with self._connections_lock:
            for db in self._connections:
                try:
                    db.close()
                except sqlite3.Error:
                    pass
            self._connections.clear()
        self._local = threading.local()

    # ------------------------------------------------------------------ start

    def _check_tail(self) -> int:
        """Check the last records' checksums; drop (and count) those that fail.

        SQLite rolls back a transaction torn by a crash (WAL checksums); this catches
        what SQLite cannot see: bytes of a record damaged on disk."""
        db = self._db()
        rows = db.execute(
            f"SELECT position, codec, crc, body FROM records ORDER BY position DESC LIMIT {TAIL_CHECK_RECORDS}"
        ).fetchall()
        bad = []
        for position, codec, crc, body in rows:
            try:
                unpack(codec, body, crc)
            except CorruptRecord:
                bad.append(position)
        if bad:
            with self._writer_lock:
                db.execute("BEGIN IMMEDIATE")
                db.executemany("DELETE FROM records WHERE position = ?", [(p,) for p in bad])
                _add_meta(db, "corrupt_records", len(bad))
                db.execute("COMMIT")
            log.error(
                "journal %s: %d damaged records at its end dropped on start (counted in journal.corrupt_records)",
                self.path, len(bad),
            )
        return len(bad)

    # ------------------------------------------------------------------ writing

    def append(self, records: Sequence[Record], states: Mapping[str, bytes] = {}) -> list[Record]:
        """Store ``records`` and the sessions' ``states`` in one durable transaction.

        Returns the records stored, with their positions; a batch the journal already
        holds is left out (its first copy stays). Raises JournalFull or
        JournalUnwritable, with nothing written, if the commit fails."""
        rows = []
        for record in records:
            codec, stored, crc = record.packed or pack(record.body)
            rows.append((record, codec, stored, crc))
        now_us = int(self._clock() * 1_000_000)
        db = self._db()
        stored_records: list[Record] = []
        with self._writer_lock:
            try:
                db.execute("BEGIN IMMEDIATE")
                for record, codec, blob, crc in rows:
                    cursor = db.execute(
                        "INSERT OR IGNORE INTO records (session, recording, kind, run, batch_seq, first_seq, samples, "
                        "first_utc_us, last_utc_us, received_utc_us, codec, crc, body) "
                        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        (
                            record.session, record.recording, record.kind.value,
                            (record.run or "") if record.kind is RecordKind.BATCH else record.run,
                            record.batch_seq, record.first_seq, record.samples,
                            record.first_utc_us, record.last_utc_us, record.received_utc_us,
                            codec, crc, blob,
                        ),
                    )
                    if cursor.rowcount == 1:
                        stored_records.append(_with_position(record, int(cursor.lastrowid or 0)))
                db.executemany(
                    "INSERT INTO sessions (session, state, updated_utc_us) VALUES (?, ?, ?) "
                    "ON CONFLICT(session) DO UPDATE SET state = excluded.state, updated_utc_us = excluded.updated_utc_us",
                    [(session, state, now_us) for session, state in states.items()],
                )
                db.execute("COMMIT")
            except sqlite3.Error as error:
                _rollback(db)
                raise _write_error(self.path, error) from None
            if stored_records:
                self.last_position = stored_records[-1].position
        return stored_records

    def holds(self, session: str, run: str | None, batch_seq: int) -> bool:
        """Does the journal hold this batch (committed)?"""
        return (
            self._db().execute(
                "SELECT 1 FROM records WHERE kind = 'batch' AND session = ? AND run = ? AND batch_seq = ?",
                (session, run or "", batch_seq),
            ).fetchone()
            is not None
        )

    # ------------------------------------------------------------------ reading

    def read_after(self, position: int, limit: int, *, kinds: Iterable[RecordKind] | None = None) -> list[Record]:
        """Up to ``limit`` records after ``position``, in order. Raises CorruptRecord on a damaged one."""
        sql = f"SELECT {_COLUMNS} FROM records WHERE position > ?"
        parameters: list[Any] = [position]
        if kinds is not None:
            names = [kind.value for kind in kinds]
            sql += f" AND kind IN ({','.join('?' * len(names))})"
            parameters += names
        sql += " ORDER BY position LIMIT ?"
        parameters.append(limit)
        return [_record(row) for row in self._db().execute(sql, parameters).fetchall()]

    def read_session(
        self,
        session: str,
        *,
        from_utc_us: int | None = None,
        to_utc_us: int | None = None,
        kinds: Iterable[RecordKind] | None = None,
        recording: str | None = None,
        chunk: int = 1000,
    ) -> Iterator[Record]:
        """One session's records whose data overlap ``[from_utc_us, to_utc_us]``, by data time.

        Uses the ``(session, recording, first_utc_us)`` index: a time range is read
        without touching the rest of the archive."""
        where = ["session = ?"]
        parameters: list[Any] = [session]
        if recording is not None:
            where.append("recording = ?")
            parameters.append(recording)
        if from_utc_us is not None:
            where.append("COALESCE(last_utc_us, first_utc_us, received_utc_us) >= ?")
            parameters.append(from_utc_us)
        if to_utc_us is not None:
            where.append("COALESCE(first_utc_us, received_utc_us) <= ?")
            parameters.append(to_utc_us)
        if kinds is not None:
            names = [kind.value for kind in kinds]
            where.append(f"kind IN ({','.join('?' * len(names))})")
            parameters += names
        sql = f"SELECT {_COLUMNS} FROM records WHERE {' AND '.join(where)} ORDER BY first_utc_us, position"
        cursor = self._db().execute(sql, parameters)
        while True:
            rows = cursor.fetchmany(chunk)
            if not rows:
                return
            for row in rows:
                yield _record(row)

    def first_position(self, *, received_from_utc_us: int | None = None) -> int:
        """The position just before the first record received at or after the given time (0: all)."""
        if received_from_utc_us is None:
            return 0
        found = self._query_one(
            "SELECT MIN(position) FROM records WHERE received_utc_us >= ?", (received_from_utc_us,)
        )
        return (found - 1) if found is not None else self.last_position

    # ------------------------------------------------------------------ session states

    def session_states(self) -> dict[str, bytes]:
        return {name: bytes(state) for name, state in self._db().execute("SELECT session, state FROM sessions")}

    # ------------------------------------------------------------------ sink checkpoints

    def checkpoint(self, sink: str) -> Checkpoint | None:
        row = self._db().execute("SELECT position, intent FROM checkpoints WHERE sink = ?", (sink,)).fetchone()
        return Checkpoint(int(row[0]), row[1]) if row else None

    def save_checkpoint(self, sink: str, position: int, intent: str | None = None) -> None:
        """Durably: the sink has written everything up to ``position`` (and is about to do ``intent``)."""
        db = self._db()
        try:
            db.execute(
                "INSERT INTO checkpoints (sink, position, intent) VALUES (?, ?, ?) "
                "ON CONFLICT(sink) DO UPDATE SET position = excluded.position, intent = excluded.intent",
                (sink, position, intent),
            )
        except sqlite3.Error as error:
            raise _write_error(self.path, error) from None

    def drop_checkpoint(self, sink: str) -> None:
        self._db().execute("DELETE FROM checkpoints WHERE sink = ?", (sink,))

    # ------------------------------------------------------------------ retention

    def enforce_retention(self) -> list[Eviction]:
        """Evict the oldest records older than ``max_age_s`` or beyond ``max_bytes``; count them."""
        evictions = []
        if self.max_age_s > 0:
            cutoff = int((self._clock() - self.max_age_s) * 1_000_000)
            found = self._evict(lambda db: db.execute(
                "SELECT position, kind, samples FROM records WHERE received_utc_us < ? ORDER BY position LIMIT ?",
                (cutoff, EVICT_CHUNK),
            ).fetchall(), "age")
            if found:
                evictions.append(found)
        if self.max_bytes > 0 and self.used_bytes() > self.max_bytes:
            found = self._evict(lambda db: db.execute(
                "SELECT position, kind, samples FROM records ORDER BY position LIMIT ?", (EVICT_CHUNK,)
            ).fetchall() if self.used_bytes() > self.max_bytes else [], "size")
            if found:
                evictions.append(found)
        return evictions

    def _evict(self, pick: Callable[[sqlite3.Connection], list[tuple[int, str, int]]], reason: str) -> Eviction | None:
        db = self._db()
        records = batches = samples = unsent = 0
        slowest = self._query_one("SELECT MIN(position) FROM checkpoints")
        while True:
            with self._writer_lock:
                rows = pick(db)
                if not rows:
                    break
                doomed_batches = sum(1 for _, kind, _ in rows if kind == RecordKind.BATCH.value)
                doomed_samples = sum(s for _, kind, s in rows if kind == RecordKind.BATCH.value)
                doomed_unsent = sum(1 for p, _, _ in rows if slowest is not None and p > slowest)
                try:
                    db.execute("BEGIN IMMEDIATE")
                    db.execute("DELETE FROM records WHERE position <= ?", (rows[-1][0],))
                    _add_meta(db, "evicted_records", len(rows))
                    _add_meta(db, "evicted_batches", doomed_batches)
                    _add_meta(db, "evicted_samples", doomed_samples)
                    _add_meta(db, "evicted_unsent", doomed_unsent)
                    db.execute("COMMIT")
                    db.execute("PRAGMA incremental_vacuum")
                except sqlite3.Error as error:
                    _rollback(db)
                    log.error("journal retention could not delete records: %s", error)
                    break
            records += len(rows)
            batches += doomed_batches
            samples += doomed_samples
            unsent += doomed_unsent
        if not records:
            return None
        log.warning(
            "journal retention (%s): evicted the %d oldest records (%d batches, %d samples%s)",
            reason, records, batches, samples,
            f"; {unsent} of them not yet written by every sink" if unsent else "",
        )
        return Eviction(records, batches, samples, unsent, reason)

    # ------------------------------------------------------------------ status

    def used_bytes(self) -> int:
        db = self._db()
        page_size = db.execute("PRAGMA page_size").fetchone()[0]
        pages = db.execute("PRAGMA page_count").fetchone()[0]
        free = db.execute("PRAGMA freelist_count").fetchone()[0]
        return int((pages - free) * page_size)

    def file_bytes(self) -> int:
        total = 0
        for suffix in ("", "-wal"):
            try:
                total += os.path.getsize(f"{self.path}{suffix}")
            except OSError:
                pass
        return total

    def meta(self) -> dict[str, int]:
        return {name: int(value) for name, value in self._db().execute("SELECT name, value FROM meta")}

    def report(self) -> dict[str, Any]:
        """The status figure: where, how big, how much, since when, and what retention removed."""
        db = self._db()
        oldest = self._query_one("SELECT received_utc_us FROM records ORDER BY position LIMIT 1")
        meta = self.meta()
        return {
            "path": str(self.path),
            "bytes": self.file_bytes(),
            "sessions": int(db.execute("SELECT COUNT(*) FROM sessions").fetchone()[0]),
            "position": self.last_position,
            "oldest_utc_us": oldest,
            "retention": {"max_bytes": self.max_bytes or None, "max_age_s": self.max_age_s or None},
            "evicted_records": meta.get("evicted_records", 0),
            "evicted_batches": meta.get("evicted_batches", 0),
            "evicted_samples": meta.get("evicted_samples", 0),
            "evicted_unsent": meta.get("evicted_unsent", 0),
            "corrupt_records": meta.get("corrupt_records", 0),
        }


# --------------------------------------------------------------------------- helpers


def _with_position(record: Record, position: int) -> Record:
    return Record(
        session=record.session, kind=record.kind, body=record.body, received_utc_us=record.received_utc_us,
        first_utc_us=record.first_utc_us, last_utc_us=record.last_utc_us, run=record.run,
        batch_seq=record.batch_seq, first_seq=record.first_seq, samples=record.samples,
        recording=record.recording, position=position, value=record.value,
    )


def _record(row: tuple) -> Record:
    (position, session, recording, kind, run, batch_seq, first_seq, samples,
     first_utc_us, last_utc_us, received_utc_us, codec, crc, body) = row
    try:
        decoded = unpack(codec, body, crc)
    except CorruptRecord as error:
        raise CorruptRecord(f"journal record {position}: {error}", position) from None
    kind = RecordKind(kind)
    return Record(
        session=session, kind=kind, body=decoded, received_utc_us=received_utc_us,
        first_utc_us=first_utc_us, last_utc_us=last_utc_us,
        run=(run or None) if kind is RecordKind.BATCH else run,
        batch_seq=batch_seq, first_seq=first_seq, samples=samples, recording=recording, position=position,
    )


def _add_meta(db: sqlite3.Connection, name: str, value: int) -> None:
    if value:
        db.execute(
            "INSERT INTO meta (name, value) VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET value = value + excluded.value",
            (name, value),
        )


def _rollback(db: sqlite3.Connection) -> None:
    try:
        db.execute("ROLLBACK")
    except sqlite3.Error:
        pass  # SQLite may have rolled back already


def _write_error(path: Path, error: sqlite3.Error) -> JournalError:
    code = getattr(error, "sqlite_errorcode", None)
    if code is not None and code & 0xFF == SQLITE_FULL:
        return JournalFull(f"journal {str(path)!r} is full: {error}")
    return JournalUnwritable(f"cannot write journal {str(path)!r}: {error}")

"""The journal, read only: what the archive (export, the HTTP API) asks of it.

:class:`JournalReader` opens the journal's SQLite file read only (``mode=ro``), so
an export never writes to the lab's archive - it neither creates the file, nor
checks or drops records, nor takes the writer's lock - and reads while the
processor writes (WAL: a reader sees the last commit when its query starts and
never blocks the writer).

Every query uses the ``(session, recording, first_utc_us)`` index: the sessions and
a session's recordings are found by a loose index scan (one index lookup per
distinct value, not a scan of every record), a recording's batches or a time range
by a range of the index. Each call opens its own connection and closes it when it
is done (a generator: when it is exhausted or closed), so a reader can be shared by
threads (the HTTP API's workers) without locks.
"""

from __future__ import annotations

import sqlite3
from array import array
from collections.abc import Iterable, Iterator
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gazewire.processor.journal.records import CorruptRecord, JournalError, unpack
from gazewire.processor.journal.store import BUSY_TIMEOUT_MS

FETCH_ROWS = 256  # rows taken from SQLite at a time while streaming


@dataclass(frozen=True, slots=True)
class StoredBody:
    """One record's data as a reader needs it: its decoded JSON and where it sits."""

    position: int
    kind: str
    recording: str | None
    first_utc_us: int | None
    last_utc_us: int | None
    samples: int
    body: bytes  # JSON, checked against its CRC-32


@dataclass(frozen=True, slots=True)
class BatchTotals:
    """What the index says about one recording's (or the unrecorded part's) batches."""

    session: str
    recording: str | None
    batches: int
    samples: int
    first_utc_us: int | None
    last_utc_us: int | None
    first_seq: int | None
    last_seq: int | None  # the seq of the last sample of the batch with the highest numbers
    last_position: int  # changes whenever a batch of it is added: a cache key


class JournalReader:
    """Read-only access to ``path`` (the processor's ``journal.sqlite``)."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path).expanduser()
        if not self.path.is_file():
            raise JournalError(f"no journal at {str(self.path)!r}")
        with closing(self._connect()):
            pass  # fails now, with the reason, rather than at the first query

    def _connect(self) -> sqlite3.Connection:
        uri = self.path.resolve().as_uri() + "?mode=ro"
        try:
            db = sqlite3.connect(uri, uri=True, check_same_thread=False)
            db.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            db.execute("SELECT 1 FROM records LIMIT 1").fetchall()
        except sqlite3.Error as error:
            raise JournalError(f"cannot read journal {str(self.path)!r}: {error}") from None
        return db

    # ------------------------------------------------------------------ what is there

    def sessions(self) -> list[str]:
        """Every session that has records, sorted (a loose index scan)."""
        with closing(self._connect()) as db:
            return _distinct(db, "SELECT MIN(session) FROM records WHERE session > ?", ())

    def recordings_of(self, session: str) -> list[str]:
        """The recording ids of one session, sorted (null, the samples between recordings, left out)."""
        with closing(self._connect()) as db:
            return _distinct(
                db, "SELECT MIN(recording) FROM records WHERE session = ? AND recording > ?", (session,)
            )

    def sessions_of_recording(self, recording: str) -> list[str]:
        """The sessions that hold ``recording`` (one, unless an id was reused)."""
        with closing(self._connect()) as db:
            return [
                session for session in _distinct(db, "SELECT MIN(session) FROM records WHERE session > ?", ())
                if db.execute(
                    "SELECT 1 FROM records WHERE session = ? AND recording = ? LIMIT 1", (session, recording)
                ).fetchone()
            ]

    def batch_totals(self, session: str, recording: str | None) -> BatchTotals:
        """Counts and time span of a recording's batches (``None``: those between recordings)."""
        match = "recording IS ?" if recording is None else "recording = ?"
        with closing(self._connect()) as db:
            row = db.execute(
                "SELECT COUNT(*), COALESCE(SUM(samples), 0), MIN(first_utc_us), MAX(last_utc_us), "
                "MIN(first_seq), MAX(first_seq + samples - 1), COALESCE(MAX(position), 0) "
                f"FROM records WHERE session = ? AND {match} AND kind = 'batch'",
                (session, recording),
            ).fetchone()
        return BatchTotals(session, recording, *row)

    def time_span(self, session: str) -> tuple[int | None, int | None]:
        """First and last sample time of a session's batches."""
        with closing(self._connect()) as db:
            row = db.execute(
                "SELECT MIN(first_utc_us), MAX(last_utc_us) FROM records WHERE session = ? AND kind = 'batch'",
                (session,),
            ).fetchone()
        return row[0], row[1]

    # ------------------------------------------------------------------ streaming

    def bodies(
        self,
        session: str,
        kinds: Iterable[str],
        *,
        recording: str | None = None,
        from_utc_us: int | None = None,
        to_utc_us: int | None = None,
    ) -> Iterator[StoredBody]:
        """The records of ``kinds`` (``batch``, ``marker``, ``status``, ``fixation``, ...) of one
        session - of one recording when given - whose data overlap ``[from_utc_us, to_utc_us)``,
        in the order of their data's time (then the order stored), a few records in memory at a
        time whatever the length of the session. A damaged record raises
        :class:`~gazewire.processor.journal.records.CorruptRecord`; nothing is skipped silently."""
        where = ["session = ?"]
        parameters: list[Any] = [session]
        if recording is not None:
            where.append("recording = ?")
            parameters.append(recording)
        if from_utc_us is not None:
            where.append("COALESCE(last_utc_us, first_utc_us, received_utc_us) >= ?")
            parameters.append(from_utc_us)
        if to_utc_us is not None:
            where.append("first_utc_us < ?")  # every record has it (records_of): a range of the index
            parameters.append(to_utc_us)
        names = list(kinds)
        where.append(f"kind IN ({','.join('?' * len(names))})")
        parameters += names
        condition = " AND ".join(where)
        db = self._connect()
        try:
            if recording is not None:
                # (session, recording, first_utc_us) gives the order itself: one pass, no sort
                cursor = db.execute(f"SELECT {_BODY_COLUMNS} FROM records WHERE {condition} "
                                    "ORDER BY first_utc_us, position", parameters)
                while rows := cursor.fetchmany(FETCH_ROWS):
                    yield from map(_stored, rows)
                return
            # A whole session spans its recordings: sort only the positions (16 bytes a record,
            # not the records), then read the records by position, a few at a time.
            order = array("q", (p for (p,) in db.execute(
                f"SELECT position FROM records WHERE {condition} ORDER BY first_utc_us, position", parameters
            )))
            for start in range(0, len(order), FETCH_ROWS):
                wanted = order[start:start + FETCH_ROWS]
                rows = db.execute(
                    f"SELECT {_BODY_COLUMNS} FROM records WHERE position IN ({','.join('?' * len(wanted))})",
                    list(wanted),
                ).fetchall()
                by_position = {row[0]: row for row in rows}
                yield from (_stored(by_position[p]) for p in wanted if p in by_position)  # evicted meanwhile: gone
        except sqlite3.Error as error:
            raise JournalError(f"cannot read journal {str(self.path)!r}: {error}") from None
        finally:
            db.close()


_BODY_COLUMNS = "position, kind, recording, first_utc_us, last_utc_us, samples, codec, crc, body"


def _stored(row: tuple) -> StoredBody:
    position, kind, recording, first, last, samples, codec, crc, blob = row
    try:
        body = unpack(codec, blob, crc)
    except CorruptRecord as error:
        raise CorruptRecord(f"journal record {position}: {error}", position) from None
    return StoredBody(position, kind, recording, first, last, samples, body)


def _distinct(db: sqlite3.Connection, next_sql: str, fixed: tuple[Any, ...]) -> list[str]:
    """Distinct values by a loose index scan: ``next_sql`` gives the smallest value above ``?``."""
    found: list[str] = []
    current = ""
    while True:
        value = db.execute(next_sql, (*fixed, current)).fetchone()[0]
        if value is None:
            return found
        found.append(value)
        current = value

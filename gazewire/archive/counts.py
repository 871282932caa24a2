"""Counts that take a pass over a recording's batches (its valid samples), kept so that a
listing reads each recording once, not at every ``gazewire recordings`` or API call.

Kept in ``<journal>.counts.sqlite`` beside the journal when that folder is writable (the
journal itself is never written), else in memory for the life of the archive. Each
count is stored with the fingerprint of what it counted - the recording's number of
batches, samples and the position of its newest batch - so a batch added (a late one,
a re-sent one) or evicted by retention makes it stale, and it is counted again.
"""

from __future__ import annotations

import sqlite3
import threading
from contextlib import closing
from pathlib import Path

Fingerprint = tuple[int, int, int]  # batches, samples, newest position


class CountCache:
    def __init__(self, journal_path: Path) -> None:
        self.path = journal_path.with_name(journal_path.stem + ".counts.sqlite")
        self._memory: dict[tuple[str, str], tuple[Fingerprint, int]] = {}
        self._lock = threading.Lock()
        self._disk = self._open()

    def _open(self) -> bool:
        try:
            with closing(sqlite3.connect(self.path)) as db, db:
                db.execute(
                    "CREATE TABLE IF NOT EXISTS valid_samples (session TEXT NOT NULL, recording TEXT NOT NULL, "
                    "batches INTEGER NOT NULL, samples INTEGER NOT NULL, position INTEGER NOT NULL, "
                    "valid INTEGER NOT NULL, PRIMARY KEY (session, recording))"
                )
            return True
        except sqlite3.Error:
            return False  # a folder the reader may not write: counted again by each process

    def valid(self, session: str, recording: str, fingerprint: Fingerprint) -> int | None:
        """The valid samples counted for exactly this fingerprint, or None."""
        with self._lock:
            held = self._memory.get((session, recording))
        if held is not None and held[0] == fingerprint:
            return held[1]
        if not self._disk:
            return None
        try:
            with closing(sqlite3.connect(self.path, timeout=1.0)) as db, db:
                row = db.execute(
                    "SELECT valid FROM valid_samples WHERE session = ? AND recording = ? AND batches = ? "
                    "AND samples = ? AND position = ?", (session, recording, *fingerprint),
                ).fetchone()
        except sqlite3.Error:
            return None
        if row is None:
            return None
        with self._lock:
            self._memory[(session, recording)] = (fingerprint, int(row[0]))
        return int(row[0])

    def keep(self, session: str, recording: str, fingerprint: Fingerprint, valid: int) -> None:
        with self._lock:
            self._memory[(session, recording)] = (fingerprint, valid)
        if not self._disk:
            return
        try:
            with closing(sqlite3.connect(self.path, timeout=1.0)) as db, db:
                db.execute(
                    "INSERT OR REPLACE INTO valid_samples VALUES (?, ?, ?, ?, ?, ?)",
                    (session, recording, *fingerprint, valid),
                )
        except sqlite3.Error:
            pass  # the memory has it; the next process counts again

"""The way out: recordings and their data, read from the lab server's journal or from a
tracker PC's own recording files, as Arrow record batches.

    from gazewire.archive import open_archive
    archive = open_archive(journal="/srv/gazewire/journal.sqlite")     # or recordings="~/gazewire-data"
    for summary in archive.recordings(participant="P01"):
        print(summary.id, summary.samples, summary.valid_share)
    for chunk in archive.gaze(summary.id):                    # pyarrow.RecordBatch, bounded memory
        ...

One interface (:class:`Archive`), two implementations (:class:`JournalArchive`,
:class:`RecordingFilesArchive`), the tables' schemas (:mod:`gazewire.archive.tables`).
``gazewire export``, the HTTP API and the client's DataFrames are built on it;
docs/data.md shows it at work. A floor above the agent and the processor: it reads
their files (the journal's read side, the agent's recording format), never the CLI.
"""

from __future__ import annotations

from pathlib import Path

from gazewire.archive.base import (
    Archive,
    ArchiveError,
    ArchiveNotFound,
    BadSelection,
    RecordingDetails,
    RecordingSummary,
    Selection,
    SessionSummary,
    UnknownRecording,
    UnknownSession,
)
from gazewire.archive.files import RecordingFilesArchive
from gazewire.archive.journal import JournalArchive
from gazewire.archive.tables import (
    ALERT_SCHEMA,
    DEFAULT_CHUNK_ROWS,
    FIXATION_SCHEMA,
    GAZE_SCHEMA,
    MARKER_SCHEMA,
    MOVEMENT_KINDS,
    MOVEMENT_SCHEMA,
    TABLES,
)


def open_archive(*, journal: Path | str | None = None, recordings: Path | str | None = None) -> Archive:
    """The journal at ``journal`` (a lab server), or the agent's recordings under ``recordings``
    (a tracker PC's data directory); exactly one of them."""
    if (journal is None) == (recordings is None):
        raise BadSelection("open_archive: give journal= or recordings=, not both or neither")
    if journal is not None:
        return JournalArchive(journal)
    assert recordings is not None
    return RecordingFilesArchive(recordings)


__all__ = [
    "ALERT_SCHEMA",
    "Archive",
    "ArchiveError",
    "ArchiveNotFound",
    "BadSelection",
    "DEFAULT_CHUNK_ROWS",
    "FIXATION_SCHEMA",
    "GAZE_SCHEMA",
    "JournalArchive",
    "MARKER_SCHEMA",
    "MOVEMENT_KINDS",
    "MOVEMENT_SCHEMA",
    "RecordingDetails",
    "RecordingFilesArchive",
    "RecordingSummary",
    "Selection",
    "SessionSummary",
    "TABLES",
    "UnknownRecording",
    "UnknownSession",
    "open_archive",
]

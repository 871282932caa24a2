"""What every archive offers (:class:`Archive`), what it answers with, and its errors.

Two archives implement it: the lab server's journal (:class:`~gazewire.archive.journal.JournalArchive`)
and a tracker PC's own recording files (:class:`~gazewire.archive.files.RecordingFilesArchive`).
Everything above them - ``gazewire export``, the HTTP API, the client's DataFrames -
uses only this interface.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import pyarrow as pa

from gazewire.errors import GazewireError
from gazewire.wire.messages import DisplayArea, TrackerInfo


class ArchiveError(GazewireError):
    """The archive cannot be opened or read (no journal, a damaged record, an unreadable file)."""


class ArchiveNotFound(ArchiveError, FileNotFoundError):
    """No journal, or no recordings folder, where the archive was looked for."""


class UnknownRecording(ArchiveError, LookupError):
    """No recording with this id in the archive."""

    def __init__(self, recording: str, where: str) -> None:
        super().__init__(f"no recording {recording!r} in {where}")
        self.recording = recording


class UnknownSession(ArchiveError, LookupError):
    """No session with this id in the archive."""

    def __init__(self, session: str, where: str) -> None:
        super().__init__(f"no session {session!r} in {where}")
        self.session = session


class BadSelection(ArchiveError, ValueError):
    """A selection that cannot be read: neither a recording nor a session, or a range that ends before it starts."""


@dataclass(frozen=True, slots=True)
class Selection:
    """What a reader reads: one recording, or one session (every sample, recorded or
    not); either one cut to ``from_utc_us <= utc_us < to_utc_us`` (an end left open is
    not cut). Made by :func:`selection`, which checks it."""

    session: str
    recording: str | None = None
    from_utc_us: int | None = None
    to_utc_us: int | None = None

    def contains(self, utc_us: int) -> bool:
        return (self.from_utc_us is None or utc_us >= self.from_utc_us) and (
            self.to_utc_us is None or utc_us < self.to_utc_us
        )


def check_range(from_utc_us: int | None, to_utc_us: int | None) -> None:
    if from_utc_us is not None and to_utc_us is not None and to_utc_us <= from_utc_us:
        raise BadSelection(f"the range ends ({to_utc_us} µs) before or where it starts ({from_utc_us} µs)")


@dataclass(frozen=True, slots=True)
class SessionSummary:
    session: str
    recordings: int
    samples: int  # every sample the archive holds of it, recorded or not
    first_utc_us: int | None
    last_utc_us: int | None


@dataclass(frozen=True, slots=True)
class RecordingSummary:
    """One line of ``gazewire recordings`` / ``GET /api/recordings``.

    ``start_utc_us``/``stop_utc_us`` are the times of its first and last sample (the
    agent's start and stop command times are in :class:`RecordingDetails`);
    ``samples`` what the archive holds and an export yields; ``valid_share`` the share
    of them with at least one valid eye; ``losses`` what was lost while it ran, by
    counter (zero counters left out): the agent's loss counters (docs/agent.md), and
    from the journal ``samples_missing`` (numbers the agent gave that the journal does
    not hold)."""

    session: str
    id: str
    name: str | None
    participant: str | None
    start_utc_us: int | None
    stop_utc_us: int | None
    samples: int
    valid_share: float | None
    losses: dict[str, int] = field(default_factory=dict)
    state: str | None = None  # recording, stopped, interrupted (from the agent's sidecar or the journal's statuses); None: not known

    @property
    def duration_s(self) -> float:
        if self.start_utc_us is None or self.stop_utc_us is None:
            return 0.0
        return (self.stop_utc_us - self.start_utc_us) / 1e6

    def to_dict(self) -> dict[str, Any]:
        return {
            "session": self.session, "id": self.id, "name": self.name, "participant": self.participant,
            "start_utc_us": self.start_utc_us, "stop_utc_us": self.stop_utc_us, "duration_s": self.duration_s,
            "samples": self.samples, "valid_share": self.valid_share, "losses": dict(self.losses),
            "state": self.state,
        }


@dataclass(frozen=True, slots=True)
class RecordingDetails:
    """Everything known about one recording: its summary, what the experimenter said
    (name, participant, metadata) and what the agent reported (tracker, rate, display
    area). ``eye_distance_mm`` is the median distance of the valid eyes from the
    tracker (Tobii's gaze origin z) over the recording's first 12 000 samples (10 s at
    1200 Hz): an estimate of the viewing distance, None without a valid eye there."""

    summary: RecordingSummary
    metadata: dict[str, str]
    started_utc_us: int | None  # when the agent started it (the start command)
    stopped_utc_us: int | None  # when it ended (None: not known, or still running)
    tracker: TrackerInfo | None
    frequency_hz: float | None
    display_area: DisplayArea | None
    eye_distance_mm: float | None
    agent_version: str | None = None
    host: str | None = None

    @property
    def id(self) -> str:
        return self.summary.id

    @property
    def session(self) -> str:
        return self.summary.session

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.summary.to_dict(),
            "metadata": dict(self.metadata),
            "started_utc_us": self.started_utc_us,
            "stopped_utc_us": self.stopped_utc_us,
            "tracker": self.tracker.model_dump() if self.tracker else None,
            "frequency_hz": self.frequency_hz,
            "display_area": self.display_area.model_dump() if self.display_area else None,
            "eye_distance_mm": self.eye_distance_mm,
            "agent_version": self.agent_version,
            "host": self.host,
        }


@runtime_checkable
class Archive(Protocol):
    """Recordings and their data, read only.

    The readers (``gaze``, ``markers``, ``fixations``, ``movements``, ``alerts``) take
    one recording (``recording=``) or one session (``session=``), optionally cut to
    ``from_utc_us <= t < to_utc_us`` (a sample's ``utc_us``; an event's start), and
    yield :class:`pyarrow.RecordBatch` chunks of at most ``chunk_rows`` rows in the
    schema of :mod:`gazewire.archive.tables`, in time order. Memory is bounded by one
    chunk. An unknown recording or session raises :class:`UnknownRecording` /
    :class:`UnknownSession` when the reader is called (not at the first ``next``); a
    range with nothing in it yields no chunk. Values are exact: every sample as the
    agent produced it.
    """

    description: str  # "journal /srv/gazewire/journal.sqlite", for messages

    def sessions(self) -> list[SessionSummary]: ...

    def recordings(
        self,
        session: str | None = None,
        *,
        since_utc_us: int | None = None,
        until_utc_us: int | None = None,
        participant: str | None = None,
    ) -> list[RecordingSummary]: ...

    def recording(self, recording: str) -> RecordingDetails: ...

    def gaze(
        self, recording: str | None = None, *, session: str | None = None,
        from_utc_us: int | None = None, to_utc_us: int | None = None, chunk_rows: int = ...,
    ) -> Iterator[pa.RecordBatch]: ...

    def markers(
        self, recording: str | None = None, *, session: str | None = None,
        from_utc_us: int | None = None, to_utc_us: int | None = None, chunk_rows: int = ...,
    ) -> Iterator[pa.RecordBatch]: ...

    def fixations(
        self, recording: str | None = None, *, session: str | None = None,
        from_utc_us: int | None = None, to_utc_us: int | None = None, chunk_rows: int = ...,
    ) -> Iterator[pa.RecordBatch]: ...

    def movements(
        self, recording: str | None = None, *, session: str | None = None,
        from_utc_us: int | None = None, to_utc_us: int | None = None, chunk_rows: int = ...,
    ) -> Iterator[pa.RecordBatch]: ...

    def alerts(
        self, recording: str | None = None, *, session: str | None = None,
        from_utc_us: int | None = None, to_utc_us: int | None = None, chunk_rows: int = ...,
    ) -> Iterator[pa.RecordBatch]: ...

"""What the client hands back: a recording, a station on the session list.

Plain frozen dataclasses built from the wire contract's messages (the agent's
command replies and retained statuses), so an experiment script can print
them, compare them and keep them without holding a connection.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from gazewire.wire.messages import AgentStatus, RecordingInfo, TrackerInfo
from gazewire.wire.timeutil import utc_us_from_iso


@dataclass(frozen=True)
class Recording:
    """One run of one participant on a session, as the agent reported it.

    ``id`` is the agent's (``20261130T101500Z-3f9a``: UTC start and four hex
    digits; the human-chosen ``name`` is separate). ``stopped_utc`` and
    ``samples`` are set once it has stopped. (The lab server's HTTP API will
    fetch a recording's data by this id: ``Lab(...).recording(id)``, issue 11.)
    """

    id: str
    session: str
    name: str | None = None
    participant: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    started_utc: str | None = None
    stopped_utc: str | None = None
    samples: int | None = None

    @classmethod
    def from_result(cls, session: str, result: dict[str, Any]) -> Recording:
        """From the ``result`` of a ``start`` or ``stop`` reply."""
        return cls(
            id=str(result["recording"]),
            session=session,
            name=result.get("name"),
            participant=result.get("participant"),
            metadata=dict(result.get("metadata") or {}),
            started_utc=result.get("started_utc"),
            stopped_utc=result.get("stopped_utc"),
            samples=result.get("samples"),
        )

    @property
    def duration_s(self) -> float | None:
        if not (self.started_utc and self.stopped_utc):
            return None
        return (utc_us_from_iso(self.stopped_utc) - utc_us_from_iso(self.started_utc)) / 1e6


@dataclass(frozen=True)
class SessionInfo:
    """A station on the lab network, from its agent's retained status.

    ``age_s`` is how long ago the agent made the status (None for the
    broker's last will, which has no time). ``stale``: the status claims the
    agent is there but has not been refreshed for longer than its lifetime
    (:func:`gazewire.client.pruning.is_stale`: the agent hangs, or was killed
    while the broker was down).
    """

    session: str
    state: str
    tracker: TrackerInfo | None
    recording: RecordingInfo | None  # the recording running now (id, name, participant, ...)
    age_s: float | None
    stale: bool
    status: AgentStatus

    @classmethod
    def from_status(cls, session: str, status: AgentStatus, *, now_us: int) -> SessionInfo:
        from gazewire.client.pruning import is_stale, status_age_s

        return cls(session, status.state, status.tracker, status.recording, status_age_s(status, now_us),
                   is_stale(status, now_us), status)

    @property
    def tracker_name(self) -> str:
        """Model and serial number, e.g. ``Tobii Pro Spectrum TPSP1-0102`` (``-`` when unknown)."""
        if self.tracker is None:
            return "-"
        return " ".join(x for x in (self.tracker.model, self.tracker.serial) if x) or "-"

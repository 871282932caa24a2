"""The lab server's archive: the processor's journal, read only.

Gaze comes from the batches exactly as the agent sent them (their JSON, kept byte
for byte by the journal): every sample, every value as the agent wrote it. A
recording's name, participant, metadata, tracker and display area come from the
agent statuses the journal holds (each status names the recording running); markers,
fixations, saccades, pursuits, blinks and alerts from their records.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa

from gazewire.archive.base import (
    ArchiveError,
    ArchiveNotFound,
    BadSelection,
    RecordingDetails,
    RecordingSummary,
    Selection,
    SessionSummary,
    UnknownRecording,
    UnknownSession,
    check_range,
)
from gazewire.archive.tables import (
    ALERT_SCHEMA,
    DEFAULT_CHUNK_ROWS,
    FIXATION_SCHEMA,
    GAZE_SCHEMA,
    MARKER_SCHEMA,
    MOVEMENT_KINDS,
    MOVEMENT_SCHEMA,
    ColumnChunker,
)
from gazewire.archive.counts import CountCache
from gazewire.processor.journal.reader import BatchTotals, JournalReader, StoredBody
from gazewire.processor.journal.records import JournalError
from gazewire.wire.messages import BATCH_COLUMNS, AgentStatus, DisplayArea, TrackerInfo
from gazewire.wire.timeutil import utc_us_from_iso

# The agent's counters of what it lost before a sample reached a batch (docs/agent.md); a
# recording's losses are what they counted between its first and its last status. Not
# samples_not_recorded: those are missing from the tracker PC's CSV, not from the batches.
LOSS_COUNTERS: tuple[str, ...] = (
    "samples_dropped_queue", "samples_dropped_outbox", "samples_dropped_unsaved", "samples_dropped_sdk",
    "samples_malformed", "sdk_buffer_overflows", "tracker_connection_losses",
)
_EYE_LIST = b'"eye":['


@dataclass
class StatusFacts:
    first: AgentStatus | None = None
    last: AgentStatus | None = None
    tracker: TrackerInfo | None = None  # the last one reported
    display_area: DisplayArea | None = None
    last_time_us: int | None = None  # the journal's time of ``last``
    state: str | None = None  # recording, stopped, interrupted (see JournalArchive._ending)
    stopped_utc_us: int | None = None
    ending: AgentStatus | None = None  # the same run's first status after a stop: its final counters


class JournalArchive:
    """:class:`~gazewire.archive.base.Archive` over the journal at ``path`` (``journal.sqlite``)."""

    def __init__(self, path: Path | str) -> None:
        if not Path(path).expanduser().is_file():
            raise ArchiveNotFound(f"no journal at {str(Path(path).expanduser())!r}")
        try:
            self.reader = JournalReader(path)
        except JournalError as error:
            raise ArchiveError(str(error)) from None
        self.description = f"the journal {str(self.reader.path)!r}"
        self._counts = CountCache(self.reader.path)

    # ------------------------------------------------------------------ listings

    def sessions(self) -> list[SessionSummary]:
        out = []
        for session in self._call(self.reader.sessions):
            recordings = self._call(self.reader.recordings_of, session)
            totals = [self._call(self.reader.batch_totals, session, r) for r in [None, *recordings]]
            first, last = self._call(self.reader.time_span, session)
            out.append(SessionSummary(session, len(recordings), sum(t.samples for t in totals), first, last))
        return out

    def recordings(
        self,
        session: str | None = None,
        *,
        since_utc_us: int | None = None,
        until_utc_us: int | None = None,
        participant: str | None = None,
    ) -> list[RecordingSummary]:
        sessions = [session] if session is not None else self._call(self.reader.sessions)
        found = []
        for name in sessions:
            for recording in self._call(self.reader.recordings_of, name):
                summary = self._summary(name, recording)
                start = summary.start_utc_us
                if since_utc_us is not None and (start is None or start < since_utc_us):
                    continue
                if until_utc_us is not None and (start is None or start >= until_utc_us):
                    continue
                if participant is not None and summary.participant != participant:
                    continue
                found.append(summary)
        return sorted(found, key=lambda s: (s.start_utc_us or 0, s.session, s.id))

    def recording(self, recording: str) -> RecordingDetails:
        session = self._session_of(recording)
        facts = self._status_facts(session, recording)
        summary = self._summary(session, recording, facts)
        status = facts.last
        started = None
        if status is not None and status.recording is not None:
            try:
                started = utc_us_from_iso(status.recording.started_utc)
            except ValueError:
                started = None
        return RecordingDetails(
            summary=summary,
            metadata=dict(status.recording.metadata) if status and status.recording else {},
            started_utc_us=started,
            stopped_utc_us=facts.stopped_utc_us,
            tracker=facts.tracker,
            frequency_hz=self._frequency(session, recording, facts.tracker),
            display_area=facts.display_area,
            eye_distance_mm=self._eye_distance(session, recording),
            agent_version=status.agent_version if status else None,
            host=status.host if status else None,
        )

    # ------------------------------------------------------------------ readers

    def gaze(self, recording: str | None = None, *, session: str | None = None, from_utc_us: int | None = None,
             to_utc_us: int | None = None, chunk_rows: int = DEFAULT_CHUNK_ROWS) -> Iterator[pa.RecordBatch]:
        chosen = self._select(recording, session, from_utc_us, to_utc_us)
        return self._gaze(chosen, ColumnChunker(GAZE_SCHEMA, chunk_rows))

    def markers(self, recording: str | None = None, *, session: str | None = None, from_utc_us: int | None = None,
                to_utc_us: int | None = None, chunk_rows: int = DEFAULT_CHUNK_ROWS) -> Iterator[pa.RecordBatch]:
        chosen = self._select(recording, session, from_utc_us, to_utc_us)
        return self._events(chosen, ("marker",), _marker_row, ColumnChunker(MARKER_SCHEMA, chunk_rows))

    def fixations(self, recording: str | None = None, *, session: str | None = None, from_utc_us: int | None = None,
                  to_utc_us: int | None = None, chunk_rows: int = DEFAULT_CHUNK_ROWS) -> Iterator[pa.RecordBatch]:
        chosen = self._select(recording, session, from_utc_us, to_utc_us)
        return self._events(chosen, ("fixation",), _fixation_row, ColumnChunker(FIXATION_SCHEMA, chunk_rows))

    def movements(self, recording: str | None = None, *, session: str | None = None, from_utc_us: int | None = None,
                  to_utc_us: int | None = None, chunk_rows: int = DEFAULT_CHUNK_ROWS) -> Iterator[pa.RecordBatch]:
        chosen = self._select(recording, session, from_utc_us, to_utc_us)
        return self._events(chosen, MOVEMENT_KINDS, _movement_row, ColumnChunker(MOVEMENT_SCHEMA, chunk_rows))

    def alerts(self, recording: str | None = None, *, session: str | None = None, from_utc_us: int | None = None,
               to_utc_us: int | None = None, chunk_rows: int = DEFAULT_CHUNK_ROWS) -> Iterator[pa.RecordBatch]:
        chosen = self._select(recording, session, from_utc_us, to_utc_us)
        return self._events(chosen, ("alert",), _alert_row, ColumnChunker(ALERT_SCHEMA, chunk_rows))

    # ------------------------------------------------------------------ reading

    def _gaze(self, chosen: Selection, chunker: ColumnChunker) -> Iterator[pa.RecordBatch]:
        for stored in self._bodies(chosen, ("batch",)):
            batch = orjson.loads(stored.body)  # ~5x faster than json: parsing is most of an export's work
            columns = batch["columns"]
            times = columns["utc_us"]
            count = len(times)
            if not count:
                continue
            if not (chosen.contains(times[0]) and chosen.contains(times[-1])):
                keep = [i for i, t in enumerate(times) if chosen.contains(t)]
                if not keep:
                    continue
                columns = {name: [columns[name][i] for i in keep] for name in BATCH_COLUMNS}
                count = len(keep)
            columns["recording"] = [batch.get("recording")] * count
            yield from chunker.add(columns, count)
        yield from chunker.finish()

    def _events(self, chosen: Selection, kinds: tuple[str, ...], row_of, chunker: ColumnChunker,
                ) -> Iterator[pa.RecordBatch]:
        def rows() -> Iterator[dict[str, Any]]:
            for stored in self._bodies(chosen, kinds):
                row = row_of(stored.kind, json.loads(stored.body))
                if row is None:
                    continue
                time_us = row.get("utc_us", row.get("start_utc_us"))
                if time_us is not None and chosen.contains(time_us):
                    row.setdefault("recording", stored.recording)
                    yield row

        yield from chunker.add_rows(rows())
        yield from chunker.finish()

    def _bodies(self, chosen: Selection, kinds: tuple[str, ...]) -> Iterator[StoredBody]:
        try:
            yield from self.reader.bodies(
                chosen.session, kinds, recording=chosen.recording,
                from_utc_us=chosen.from_utc_us, to_utc_us=chosen.to_utc_us,
            )
        except JournalError as error:
            raise ArchiveError(str(error)) from None

    # ------------------------------------------------------------------ helpers

    def _call(self, method, *args):
        try:
            return method(*args)
        except JournalError as error:
            raise ArchiveError(str(error)) from None

    def _select(self, recording: str | None, session: str | None, from_utc_us: int | None,
                to_utc_us: int | None) -> Selection:
        check_range(from_utc_us, to_utc_us)
        if recording is not None:
            found = self._session_of(recording)
            if session is not None and session != found:
                raise UnknownRecording(recording, f"session {session!r} of {self.description}")
            return Selection(found, recording, from_utc_us, to_utc_us)
        if session is None:
            raise BadSelection("choose a recording or a session")
        if session not in self._call(self.reader.sessions):
            raise UnknownSession(session, self.description)
        return Selection(session, None, from_utc_us, to_utc_us)

    def _session_of(self, recording: str) -> str:
        sessions = self._call(self.reader.sessions_of_recording, recording)
        if not sessions:
            raise UnknownRecording(recording, self.description)
        return sessions[0]

    def _summary(self, session: str, recording: str, facts: StatusFacts | None = None) -> RecordingSummary:
        totals = self._call(self.reader.batch_totals, session, recording)
        facts = facts or self._status_facts(session, recording)
        first, last = facts.first, facts.last
        info = last.recording if last is not None else None
        last = facts.ending or last  # the counters as the recording stopped
        losses: dict[str, int] = {}
        if totals.first_seq is not None and totals.last_seq is not None:
            missing = (totals.last_seq - totals.first_seq + 1) - totals.samples
            if missing > 0:
                losses["samples_missing"] = missing
        if first is not None and last is not None:
            for name in LOSS_COUNTERS:
                counted = getattr(last.counters, name, 0) - getattr(first.counters, name, 0)
                if counted > 0:
                    losses[name] = counted
        valid = self._valid(session, recording, totals)
        return RecordingSummary(
            session=session, id=recording,
            name=info.name if info else None, participant=info.participant if info else None,
            start_utc_us=totals.first_utc_us, stop_utc_us=totals.last_utc_us, samples=totals.samples,
            valid_share=(valid / totals.samples) if totals.samples else None, losses=losses,
            state=facts.state,
        )

    def _status_facts(self, session: str, recording: str) -> StatusFacts:
        """What the recording's agent statuses in the journal say (one pass over them)."""
        facts = StatusFacts()
        for stored in self._bodies(Selection(session, recording), ("status",)):
            status = AgentStatus.model_validate_json(stored.body)
            if facts.first is None:
                facts.first = status
            facts.last = status
            facts.last_time_us = stored.first_utc_us
            facts.tracker = status.tracker or facts.tracker
            facts.display_area = status.display_area or facts.display_area
        if facts.last is not None:
            self._ending(session, recording, facts)
        return facts

    def _ending(self, session: str, recording: str, facts: StatusFacts) -> None:
        """How the recording ended, from the session's first status after the last one naming it.

        The agent publishes its status at once when a recording stops, so that status's time
        is the stop's (to the agent's loop tick). A status of the same agent run that names no
        recording, or another: ``stopped`` then. The agent's last will (``offline``) or a
        status of a new run: ``interrupted`` (it vanished or restarted while recording; the
        stop time is not known). No later status: ``recording`` (the newest word the journal
        has; an agent cut off from the broker is recording, or was, as far as it knows)."""
        last = facts.last
        assert last is not None
        after = Selection(session, None, (facts.last_time_us or 0) + 1, None)
        for stored in self._bodies(after, ("status",)):
            status = AgentStatus.model_validate_json(stored.body)
            if status.recording is not None and status.recording.id == recording:
                continue  # the same time as the last, stored twice (a replayed status)
            if status.state == "offline" or status.run is None or status.run != last.run:
                facts.state = "interrupted"
                return
            facts.state = "stopped"
            facts.ending = status
            try:
                facts.stopped_utc_us = utc_us_from_iso(status.utc) if status.utc else stored.first_utc_us
            except ValueError:
                facts.stopped_utc_us = stored.first_utc_us
            return
        facts.state = "recording"

    def _frequency(self, session: str, recording: str, tracker: TrackerInfo | None) -> float | None:
        for stored in self._bodies(Selection(session, recording), ("batch",)):
            rate = json.loads(stored.body).get("sample_rate_hz")
            if rate:
                return float(rate)
            break
        return tracker.frequency_hz if tracker else None

    def _eye_distance(self, session: str, recording: str) -> float | None:
        for chunk in self._gaze(Selection(session, recording), ColumnChunker(GAZE_SCHEMA, EYE_DISTANCE_SAMPLES)):
            return eye_distance_mm(chunk)
        return None

    def _valid(self, session: str, recording: str, totals: BatchTotals) -> int:
        """Samples with a valid eye in a recording, counted from its batches' ``eye`` column
        (kept in the count cache until a batch is added to the recording or evicted)."""
        fingerprint = (totals.batches, totals.samples, totals.last_position)
        known = self._counts.valid(session, recording, fingerprint)
        if known is not None:
            return known
        valid = 0
        for stored in self._bodies(Selection(session, recording), ("batch",)):
            invalid, count = _count_invalid(stored.body, stored.samples)
            valid += count - invalid
        self._counts.keep(session, recording, fingerprint, valid)
        return valid


EYE_DISTANCE_SAMPLES = 12_000  # the recording's first samples the eye distance is measured on (10 s at 1200 Hz)


def eye_distance_mm(chunk: pa.RecordBatch) -> float | None:
    """Median distance of the valid eyes from the tracker (gaze origin z, mm) in ``chunk``."""
    values = []
    for side in ("left", "right"):
        z = chunk.column(f"{side}_origin_z").to_pylist()
        ok = chunk.column(f"{side}_origin_valid").to_pylist()
        values += [v for v, good in zip(z, ok) if good and v is not None]
    return float(statistics.median(values)) if values else None


def _count_invalid(body: bytes, samples: int) -> tuple[int, int]:
    """Samples without a valid eye (``eye`` ``none``) and samples of one batch's JSON,
    read off its ``eye`` list without parsing the rest."""
    start = body.find(_EYE_LIST)
    end = body.find(b"]", start) if start >= 0 else -1
    if start < 0 or end < 0:
        eyes = orjson.loads(body)["columns"]["eye"]
        return sum(1 for eye in eyes if eye == "none"), len(eyes)
    return body.count(b'"none"', start, end), samples


def _marker_row(kind: str, body: dict[str, Any]) -> dict[str, Any]:
    return {
        "utc_us": body["utc_ns"] // 1000, "name": body["name"], "system_time_us": body.get("system_time_us"),
        "source": body.get("source"), "recording": body.get("recording"),
    }


def _fixation_row(kind: str, body: dict[str, Any]) -> dict[str, Any] | None:
    if body.get("event") != "end" or body.get("retracted"):
        return None
    return {name: body.get(name) for name in FIXATION_SCHEMA.names}


def _movement_row(kind: str, body: dict[str, Any]) -> dict[str, Any]:
    row = {name: body.get(name) for name in MOVEMENT_SCHEMA.names}
    row["kind"] = kind
    row["number"] = body.get(kind)
    return row


def _alert_row(kind: str, body: dict[str, Any]) -> dict[str, Any]:
    row = {name: body.get(name) for name in ALERT_SCHEMA.names}
    row["details"] = json.dumps(body.get("details") or {}, sort_keys=True)
    return row


"""Between the processor's outcomes and journal records, both ways.

:func:`records_of` turns what handling messages produced into records to store (a
batch keeps the agent's original JSON bytes); :func:`outcome_of` turns records read
back into an outcome again, from which the sinks build their points
(:func:`gazewire.processor.outputs.points.points_of`). Both directions see the same
values - pydantic parses the same JSON the same way - so a point written from the
journal is byte-identical to the one written live.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict

from gazewire.wire.messages import (
    AgentStatus,
    Alert,
    BlinkEvent,
    FixationEvent,
    GazeBatch,
    Marker,
    PursuitEvent,
    SaccadeEvent,
    WireModel,
)
from gazewire.wire.timeutil import utc_us_from_iso
from gazewire.processor.journal.records import Packed, Record, RecordKind
from gazewire.processor.pipeline.outcome import AoiVisit, Outcome, ReceivedStatus


def records_of(
    outcome: Outcome, *, received_utc_us: int, payloads: dict[int, bytes] | None = None,
    packed: dict[int, Packed] | None = None,
) -> list[Record]:
    """The records to store for ``outcome``. ``payloads`` maps ``id(batch)`` to the bytes
    the batch arrived as (kept as they are); a batch without them is serialised again.
    ``packed``: ``pack()`` of those bytes, where it was done already."""
    records: list[Record] = []
    for batch in outcome.batches:
        payload = (payloads or {}).get(id(batch))
        body = payload or batch.model_dump_json().encode()
        times = batch.columns.utc_us
        records.append(Record(
            session=batch.session, kind=RecordKind.BATCH, body=body, received_utc_us=received_utc_us,
            first_utc_us=times[0] if times else None, last_utc_us=times[-1] if times else None,
            run=batch.run, batch_seq=batch.batch_seq, first_seq=batch.first_seq, samples=batch.count,
            recording=batch.recording, value=batch, packed=(packed or {}).get(id(batch)) if payload else None,
        ))
    for received in outcome.statuses:
        status = received.status
        records.append(Record(
            session=status.session, kind=RecordKind.STATUS, body=status.to_json(),
            received_utc_us=received.received_utc_us, first_utc_us=_status_time(status, received.received_utc_us),
            recording=status.recording.id if status.recording is not None else None, value=received,
        ))
    for marker in outcome.markers:
        time_us = marker.utc_ns // 1000
        records.append(Record(
            session=marker.session, kind=RecordKind.MARKER, body=marker.to_json(),
            received_utc_us=received_utc_us, first_utc_us=time_us, last_utc_us=time_us,
            recording=marker.recording, value=marker,
        ))
    for event in outcome.fixation_events:
        # a retracted tentative start's end is no fixation: like a start, it makes no point
        last = None if event.retracted else event.end_utc_us
        records.append(Record(
            session=event.session, kind=RecordKind.FIXATION, body=event.to_json(),
            received_utc_us=received_utc_us, first_utc_us=event.start_utc_us, last_utc_us=last,
            recording=event.recording, value=event,
        ))
    for kind, events in _movements(outcome):
        for movement in events:
            records.append(Record(
                session=movement.session, kind=kind, body=movement.to_json(), received_utc_us=received_utc_us,
                first_utc_us=movement.start_utc_us, last_utc_us=movement.end_utc_us,
                recording=movement.recording, value=movement,
            ))
    for visit in outcome.aoi_visits:
        records.append(Record(
            session=visit.session, kind=RecordKind.VISIT, body=json.dumps(asdict(visit)).encode(),
            received_utc_us=received_utc_us, first_utc_us=visit.start_utc_us, last_utc_us=visit.end_utc_us,
            recording=visit.recording, value=visit,
        ))
    for alert in outcome.alerts:
        records.append(Record(
            session=alert.session, kind=RecordKind.ALERT, body=alert.to_json(),
            received_utc_us=received_utc_us, first_utc_us=alert.utc_us, last_utc_us=alert.utc_us,
            recording=alert.recording, value=alert,
        ))
    return records


def outcome_of(records: Iterable[Record]) -> Outcome:
    """What the records say, as an outcome (to build points from). A record that still has
    the message it was made from uses it; the others are parsed from their JSON."""
    outcome = Outcome()
    for record in records:
        kind = record.kind
        value = record.value
        if value is not None:
            _add(outcome, kind, value)
        elif kind is RecordKind.BATCH:
            outcome.batches.append(GazeBatch.model_validate_json(record.body))
        elif kind is RecordKind.STATUS:
            outcome.statuses.append(
                ReceivedStatus(AgentStatus.model_validate_json(record.body), record.received_utc_us)
            )
        elif kind is RecordKind.MARKER:
            outcome.markers.append(Marker.model_validate_json(record.body))
        elif kind is RecordKind.FIXATION:
            outcome.fixation_events.append(FixationEvent.model_validate_json(record.body))
        elif kind is RecordKind.VISIT:
            outcome.aoi_visits.append(AoiVisit(**json.loads(record.body)))
        elif kind is RecordKind.ALERT:
            outcome.alerts.append(Alert.model_validate_json(record.body))
        elif kind in MOVEMENT_MODELS:
            _add(outcome, kind, MOVEMENT_MODELS[kind].model_validate_json(record.body))
    return outcome


MOVEMENT_MODELS: dict[RecordKind, type[WireModel]] = {
    RecordKind.SACCADE: SaccadeEvent,
    RecordKind.PURSUIT: PursuitEvent,
    RecordKind.BLINK: BlinkEvent,
}


def _movements(outcome: Outcome) -> list[tuple[RecordKind, list]]:
    return [
        (RecordKind.SACCADE, outcome.saccades),
        (RecordKind.PURSUIT, outcome.pursuits),
        (RecordKind.BLINK, outcome.blinks),
    ]


def _add(outcome: Outcome, kind: RecordKind, value: object) -> None:
    target = {
        RecordKind.BATCH: outcome.batches,
        RecordKind.STATUS: outcome.statuses,
        RecordKind.MARKER: outcome.markers,
        RecordKind.FIXATION: outcome.fixation_events,
        RecordKind.VISIT: outcome.aoi_visits,
        RecordKind.ALERT: outcome.alerts,
        RecordKind.SACCADE: outcome.saccades,
        RecordKind.PURSUIT: outcome.pursuits,
        RecordKind.BLINK: outcome.blinks,
    }[kind]
    target.append(value)  # type: ignore[arg-type]


def point_count(record: Record, gaze_hz: float = 0.0) -> int:
    """How many points a record becomes (about, for a batch with ``gaze_hz``): a batch one per
    sample, a fixation only its end (not a retracted one: its record has no ``last_utc_us``)."""
    if record.kind is RecordKind.BATCH:
        rate = getattr(record.value, "sample_rate_hz", None)
        if gaze_hz and rate and rate > gaze_hz:
            return max(1, round(record.samples * gaze_hz / rate))
        return record.samples
    if record.kind is RecordKind.FIXATION:
        return 1 if record.last_utc_us is not None else 0
    return 1


def storable(outcome: Outcome) -> Outcome:
    """The part of ``outcome`` that is stored (what :func:`outcome_of` gives back for its records)."""
    return Outcome(
        batches=list(outcome.batches),
        fixation_events=list(outcome.fixation_events),
        saccades=list(outcome.saccades),
        pursuits=list(outcome.pursuits),
        blinks=list(outcome.blinks),
        aoi_visits=list(outcome.aoi_visits),
        alerts=list(outcome.alerts),
        statuses=list(outcome.statuses),
        markers=list(outcome.markers),
    )


def _status_time(status: AgentStatus, received_utc_us: int) -> int:
    if status.utc is not None:
        try:
            return utc_us_from_iso(status.utc)
        except ValueError:
            pass
    return received_utc_us

"""Storage rows: the points of what the processor received and produced (an
:class:`~gazewire.processor.pipeline.outcome.Outcome`), with the names of
:mod:`gazewire.processor.outputs.measurements`."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from itertools import repeat

import orjson

from gazewire.wire.messages import (
    AgentStatus,
    Alert,
    BlinkEvent,
    FixationEvent,
    GazeBatch,
    Marker,
    PursuitEvent,
    SaccadeEvent,
)
from gazewire.wire.timeutil import utc_us_from_iso
from gazewire.processor.pipeline.outcome import AoiVisit, Outcome
from gazewire.processor.outputs.lineprotocol import Point, field_key, line_head
from gazewire.processor.outputs.measurements import (
    AGENT_STATE_CODES,
    AGENT_STATUS,
    ALERT,
    AOI_VISIT,
    BLINK,
    FIXATION,
    GAZE,
    MARKER,
    PURSUIT,
    SACCADE,
    RECORDING,
)


def points_of(outcome: Outcome, *, gaze: bool = True) -> list[Point]:
    """Every point to store for ``outcome``: agent statuses, markers, one ``gaze`` point per
    sample of the batches taken (unless ``gaze`` is false), ended fixations, saccades, pursuits,
    blinks, ended AOI visits, alerts."""
    points = [agent_status_point(s.status, s.received_utc_us) for s in outcome.statuses]
    points += [marker_point(marker) for marker in outcome.markers]
    for batch in outcome.batches if gaze else ():
        points += gaze_points(batch)
    points += [
        fixation_point(event) for event in outcome.fixation_events if event.event == "end" and not event.retracted
    ]
    points += [saccade_point(event) for event in outcome.saccades]
    points += [pursuit_point(event) for event in outcome.pursuits]
    points += [blink_point(event) for event in outcome.blinks]
    points += [visit_point(visit) for visit in outcome.aoi_visits]
    points += [alert_point(alert) for alert in outcome.alerts]
    return points


def entries_of(outcome: Outcome, *, gaze_hz: float = 0.0) -> list[tuple[str, str | None, int]]:
    """Every point of ``outcome`` as ``(line, session, time_us)``: the lines of
    :func:`points_of`, the gaze samples encoded a batch at a time (:func:`gaze_lines`) - or,
    with ``gaze_hz``, only the samples :func:`gaze_rows` picks."""
    entries = [(point.line(), point.session, point.time_us) for point in points_of(outcome, gaze=False)]
    for batch in outcome.batches:
        rows = gaze_rows(batch, gaze_hz)
        if rows is None:
            entries += zip(gaze_lines(batch), repeat(batch.session), batch.columns.utc_us)
        else:
            entries += [(p.line(), p.session, p.time_us) for p in gaze_points(batch, rows)]
    return entries


def gaze_rows(batch: GazeBatch, gaze_hz: float) -> list[int] | None:
    """The samples of ``batch`` the sink writes at most ``gaze_hz`` of per second: those whose
    ``seq`` is a multiple of ceil(the tracker's rate / gaze_hz) - chosen by the data alone, so
    the same batch always gives the same points. None: every sample (no limit, the limit at or
    above the tracker's rate, or a batch without its rate)."""
    rate = batch.sample_rate_hz
    if not gaze_hz or not rate or rate <= gaze_hz:
        return None
    every = math.ceil(rate / gaze_hz)
    return [i for i, seq in enumerate(batch.columns.seq) if seq % every == 0]


def gaze_tags(batch: GazeBatch) -> dict[str, str]:
    """The tags of every ``gaze`` point of ``batch``."""
    return with_recording({"session": batch.session, "device": batch.device}, batch.recording)


def gaze_points(batch: GazeBatch, rows: Sequence[int] | None = None) -> list[Point]:
    """One ``gaze`` point per sample of ``batch`` (or of the given row indices)."""
    c = batch.columns
    tags = gaze_tags(batch)
    make = GAZE.point
    points = []
    for i in range(batch.count) if rows is None else rows:
        left_pupil = c.left_pupil[i] if c.left_pupil_valid[i] else None
        right_pupil = c.right_pupil[i] if c.right_pupil_valid[i] else None
        pupils = [p for p in (left_pupil, right_pupil) if p is not None]
        x = c.x[i]
        points.append(
            make(
                c.utc_us[i],
                tags,
                {
                    "seq": c.seq[i],
                    "x": x,
                    "y": c.y[i],
                    "valid": int(x is not None and c.y[i] is not None),
                    "eye": c.eye[i],
                    "left_x": c.left_x[i],
                    "left_y": c.left_y[i],
                    "left_valid": c.left_valid[i],
                    "right_x": c.right_x[i],
                    "right_y": c.right_y[i],
                    "right_valid": c.right_valid[i],
                    "pupil": sum(pupils) / len(pupils) if pupils else None,
                    "left_pupil": c.left_pupil[i],
                    "left_pupil_valid": c.left_pupil_valid[i],
                    "right_pupil": c.right_pupil[i],
                    "right_pupil_valid": c.right_pupil_valid[i],
                },
            )
        )
    return points


_GAZE_FIELDS = (  # (field, how the line writes it) in the order of gaze_points; floats as float_texts
    ("seq", "%di"), ("x", "%s"), ("y", "%s"), ("valid", "%di"), ("eye", '"%s"'),
    ("left_x", "%s"), ("left_y", "%s"), ("left_valid", "%di"),
    ("right_x", "%s"), ("right_y", "%s"), ("right_valid", "%di"),
    ("pupil", "%s"), ("left_pupil", "%s"), ("left_pupil_valid", "%di"),
    ("right_pupil", "%s"), ("right_pupil_valid", "%di"),
)
_GAZE_FORMS = tuple(f"{field_key(name)}={form}" for name, form in _GAZE_FIELDS)
_GAZE_TEMPLATE = ",".join(_GAZE_FORMS)
_EYES = frozenset(("both", "left", "right", "none"))  # written as they are: nothing to escape
_INFINITE = (math.inf, -math.inf)


def gaze_lines(batch: GazeBatch) -> list[str]:
    """The line protocol of the ``gaze`` points of ``batch``: exactly
    ``[point.line() for point in gaze_points(batch)]``, built a column at a time - one string
    format per sample with every value present (most of them), the point-by-point encoder for
    the others (an invalid eye leaves fields out)."""
    c = batch.columns
    n = batch.count
    if not n:
        return []
    left_pupil, right_pupil = c.left_pupil, c.right_pupil
    pupil = [  # as gaze_points: sum(...) / len(...), whose sum starts at 0 (so -0.0 becomes 0.0)
        (0 + lp + rp) / 2 if lv and rv and lp is not None and rp is not None
        else (0 + lp if lv and lp is not None else (0 + rp if rv and rp is not None else None))
        for lp, rp, lv, rv in zip(left_pupil, right_pupil, c.left_pupil_valid, c.right_pupil_valid)
    ]
    nullable = (c.x, c.y, c.left_x, c.left_y, c.right_x, c.right_y, pupil, left_pupil, right_pupil)
    complete = not any(None in column for column in nullable) and _EYES.issuperset(c.eye)
    if complete and _INFINITE[0] not in pupil and _INFINITE[1] not in pupil:
        slow: set[int] = set()
    else:
        slow = {
            i for i, values in enumerate(zip(*nullable))
            if None in values or values[6] in _INFINITE or c.eye[i] not in _EYES
        }
    valid = [int(x is not None and y is not None) for x, y in zip(c.x, c.y)]
    head = line_head(GAZE.name, gaze_tags(batch))
    template = f"{head} {_GAZE_TEMPLATE} %d"
    texts = float_texts
    columns = (
        c.seq, texts(c.x), texts(c.y), valid, c.eye, texts(c.left_x), texts(c.left_y), c.left_valid,
        texts(c.right_x), texts(c.right_y), c.right_valid,
        texts(pupil), texts(left_pupil), c.left_pupil_valid, texts(right_pupil), c.right_pupil_valid, c.utc_us,
    )
    if not slow:
        return [template % row for row in zip(*columns)]
    lines = [template % row if i not in slow else "" for i, row in enumerate(zip(*columns))]
    values = (c.seq, c.x, c.y, valid, c.eye, c.left_x, c.left_y, c.left_valid, c.right_x, c.right_y,
              c.right_valid, pupil, left_pupil, c.left_pupil_valid, right_pupil, c.right_pupil_valid)
    odd_eyes = []
    for i in sorted(slow):
        if c.eye[i] not in _EYES:
            odd_eyes.append(i)
            continue
        # the fields with a value (encode_line leaves out None and infinities), as the template writes them
        parts = [
            form % text[i] for form, value, text in zip(_GAZE_FORMS, values, columns)
            if value[i] is not None and value[i] not in _INFINITE
        ]
        lines[i] = f"{head} {','.join(parts)} {c.utc_us[i]}"
    for i, point in zip(odd_eyes, gaze_points(batch, odd_eyes)):
        lines[i] = point.line()  # a tag-like eye text to escape: the point-by-point encoder
    return lines


def float_texts(values: Sequence[float | None]) -> list[str]:
    """Each value as the line protocol writes a float: ``repr`` (the shortest text that reads back
    as the same float), a column at a time. orjson formats a list of floats with the same
    shortest-digits algorithm about ten times faster than ``repr`` one by one, and writes the same
    text except for magnitudes where ``repr`` uses an exponent and orjson does not, or writes it
    differently (``1e-05`` against ``0.00001``, ``3e-07`` against ``3e-7``): a column with any of
    those (``e`` or ``0.0000`` in its text) is written by ``repr`` instead. A value that has no
    float text (None, infinity: orjson writes ``null``) belongs to a row written point by point."""
    text = orjson.dumps(values).decode()
    if "e" in text or "0.0000" in text:
        return [repr(value) for value in values]
    return text[1:-1].split(",")


def fixation_point(event: FixationEvent) -> Point:
    """The ``fixation`` point of an ended fixation."""
    return FIXATION.point(
        event.start_utc_us,
        with_recording(
            {"session": event.session, "device": event.device or "", "algorithm": event.algorithm}, event.recording
        ),
        {
            "number": event.fixation,
            "duration_ms": event.duration_ms,
            "end_utc_us": event.end_utc_us,
            "x": event.x,
            "y": event.y,
            "x_deg": event.x_deg,
            "y_deg": event.y_deg,
            "dispersion_deg": event.dispersion_deg,
            "samples": event.samples,
            "interrupted": 1 if event.interrupted else None,
        },
    )


def _event_tags(event: SaccadeEvent | PursuitEvent | BlinkEvent) -> dict[str, str]:
    return with_recording(
        {"session": event.session, "device": event.device or "", "algorithm": event.algorithm}, event.recording
    )


def saccade_point(event: SaccadeEvent) -> Point:
    return SACCADE.point(
        event.start_utc_us,
        _event_tags(event),
        {
            "number": event.saccade,
            "duration_ms": event.duration_ms,
            "end_utc_us": event.end_utc_us,
            "amplitude_deg": event.amplitude_deg,
            "peak_velocity_deg_s": event.peak_velocity_deg_s,
            "direction_deg": event.direction_deg,
            "start_x": event.start_x,
            "start_y": event.start_y,
            "end_x": event.end_x,
            "end_y": event.end_y,
            "pso_duration_ms": event.pso_duration_ms,
        },
    )


def pursuit_point(event: PursuitEvent) -> Point:
    return PURSUIT.point(
        event.start_utc_us,
        _event_tags(event),
        {
            "number": event.pursuit,
            "duration_ms": event.duration_ms,
            "end_utc_us": event.end_utc_us,
            "mean_velocity_deg_s": event.mean_velocity_deg_s,
            "amplitude_deg": event.amplitude_deg,
            "direction_deg": event.direction_deg,
            "start_x": event.start_x,
            "start_y": event.start_y,
            "end_x": event.end_x,
            "end_y": event.end_y,
            "samples": event.samples,
        },
    )


def blink_point(event: BlinkEvent) -> Point:
    return BLINK.point(
        event.start_utc_us,
        _event_tags(event),
        {
            "number": event.blink,
            "duration_ms": event.duration_ms,
            "end_utc_us": event.end_utc_us,
            "samples": event.samples,
        },
    )


def alert_point(alert: Alert) -> Point:
    return ALERT.point(
        alert.utc_us,
        with_recording({"session": alert.session, "type": alert.type, "state": alert.state}, alert.recording),
        {
            "active": int(alert.state == "raised"),
            "severity": alert.severity,
            "details": json.dumps(alert.details, sort_keys=True, separators=(",", ":")),
        },
    )


def visit_point(visit: AoiVisit) -> Point:
    return AOI_VISIT.point(
        visit.start_utc_us,
        with_recording({"session": visit.session, "aoi": visit.aoi}, visit.recording),
        {
            "dwell_ms": (visit.end_utc_us - visit.start_utc_us) / 1000.0,
            "fixations": visit.fixations,
            "end_utc_us": visit.end_utc_us,
        },
    )


def agent_status_point(status: AgentStatus, received_utc_us: int) -> Point:
    time_us = received_utc_us
    if status.utc is not None:
        try:
            time_us = utc_us_from_iso(status.utc)
        except ValueError:
            pass  # an unreadable time: the receive time is the best we have
    counters = status.counters
    return AGENT_STATUS.point(
        time_us,
        {"session": status.session},
        {
            "state": status.state,
            "state_code": AGENT_STATE_CODES[status.state],
            "samples_in": counters.samples_in,
            "samples_published": counters.samples_published,
            "samples_dropped": counters.samples_dropped_queue + counters.samples_dropped_outbox,
            "outbox_depth": counters.outbox_depth,
            "reconnects": counters.reconnects,
        },
    )


def marker_point(marker: Marker) -> Point:
    return MARKER.point(
        marker.utc_ns // 1000,
        with_recording({"session": marker.session, "source": marker.source}, marker.recording),
        {"name": marker.name},
    )


def with_recording(tags: dict[str, str], recording: str | None) -> dict[str, str]:
    """``tags`` with the ``recording`` tag when there is one (between recordings: none)."""
    if recording is not None:
        tags[RECORDING.name] = recording
    return tags

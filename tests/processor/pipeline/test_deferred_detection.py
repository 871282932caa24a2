"""Detection deferred to the end of a group of messages (``Dispatcher.handle(defer=True)`` and
``settle()``, what the processor does under load) gives exactly what handling every message on
its own gives: the same fixations, saccades, pursuits, blinks, alerts, AOI events and visits,
batches, duplicates and counters, however the messages are cut into groups - with two
sessions interleaved, statuses that stop and restart the stream, a gap, a duplicate, a
change of display, blinks and alerts on the way."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gazewire.processor.config import AlertSettings, ProcessorSettings
from gazewire.processor.pipeline.aoi import Aoi
from gazewire.processor.pipeline.outcome import Outcome
from tests.processor.streams import (
    batch_payloads,
    invalid_samples,
    make_dispatcher,
    simulated,
    status_payload,
)

RATE_HZ = 300.0
AOIS = (Aoi("left", 0.0, 0.0, 0.5, 1.0, dwell_s=0.5), Aoi("right", 0.5, 0.0, 1.0, 1.0))


def _session_messages(session: str, seed: int) -> list[tuple[str, bytes]]:
    first = simulated(8, RATE_HZ, seed=seed).samples
    last_us = first[-1]["system_time_stamp"]
    lost = invalid_samples(int(2.5 * RATE_HZ), last_us + 3334, RATE_HZ)  # gaze_lost is raised
    second = simulated(6, RATE_HZ, seed=seed + 1, start_system_time_us=lost[-1]["system_time_stamp"] + 3334).samples
    payloads = batch_payloads(first + lost + second, session=session, sizes=[15, 30, 7], sample_rate_hz=RATE_HZ)
    batch = f"lab/{session}/gaze/batch"
    status = f"lab/{session}/status"
    messages = [(status, status_payload(session, frequency_hz=RATE_HZ))]
    for index, payload in enumerate(payloads):
        if index == 40:  # the gaze is lost for a while, then the display changes
            messages.append((status, status_payload(session, display=(600.0, 340.0), frequency_hz=RATE_HZ)))
        if index == 70:  # a batch that never comes (counted missing), and one that comes twice
            continue
        messages.append((batch, payload))
        if index == 90:
            messages.append((batch, payload))
        if index == 120:  # the agent stops and starts again: the stream ends and starts again
            messages.append((status, status_payload(session, state="stopped", frequency_hz=RATE_HZ)))
            messages.append((status, status_payload(session, frequency_hz=RATE_HZ)))
    return messages


def _interleaved() -> list[tuple[str, bytes]]:
    a, b = _session_messages("s1", 11), _session_messages("s2", 21)
    out = []
    for index in range(max(len(a), len(b))):
        out += a[index : index + 1] + b[index : index + 1]
    return out


MESSAGES = _interleaved()


def _dispatcher():
    settings = ProcessorSettings(alerts=AlertSettings(long_fixation_s=0.4, sample_rate_window_s=1.0))
    return make_dispatcher(settings, aois_for=lambda session: AOIS)


def _key(message) -> tuple:
    return tuple(sorted((k, repr(v)) for k, v in message.model_dump().items() if k not in ("utc", "detected_utc_us")))


def _by_session(outcome: Outcome) -> dict[tuple[str, str], list]:
    """Every kind of output per session, in order (the order within a session and kind is kept;
    across sessions and kinds it is the order of handling, which deferral changes)."""
    found: dict[tuple[str, str], list] = {}
    for kind in ("fixation_events", "saccades", "pursuits", "blinks", "alerts", "aoi_events", "markers"):
        for message in getattr(outcome, kind):
            found.setdefault((message.session, kind), []).append(_key(message))
    for batch in outcome.batches:
        found.setdefault((batch.session, "batches"), []).append(batch.batch_seq)
    for batch in outcome.duplicates:
        found.setdefault((batch.session, "duplicates"), []).append(batch.batch_seq)
    for visit in outcome.aoi_visits:
        found.setdefault((visit.session, "visits"), []).append(visit)
    for received in outcome.statuses:
        found.setdefault((received.status.session, "statuses"), []).append(received.status.state)
    return found


def _one_by_one():
    d = _dispatcher()
    out = Outcome()
    for topic, payload in MESSAGES:
        out.merge(d.handle(topic, payload))
    out.merge(d.end_all("end of the test"))
    return _by_session(out), d.counters()


REFERENCE, REFERENCE_COUNTERS = _one_by_one()


def test_the_reference_has_something_of_everything():
    kinds = {kind for _, kind in REFERENCE}
    assert {"fixation_events", "saccades", "blinks", "alerts", "aoi_events", "visits", "duplicates"} <= kinds
    assert REFERENCE_COUNTERS["gap_batches"] == 2 and REFERENCE_COUNTERS["duplicate_batches"] == 2
    alerts = {a for (session, kind), found in REFERENCE.items() if kind == "alerts" for a in found}
    types = {dict(a)["type"] for a in alerts}
    assert {"'gaze_lost'", "'long_fixation'", "'aoi_dwell'"} <= types


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.integers(min_value=1, max_value=120), min_size=1, max_size=30))
def test_any_grouping_of_deferred_messages_gives_what_one_by_one_gives(group_sizes):
    d = _dispatcher()
    out = Outcome()
    index = 0
    turn = 0
    while index < len(MESSAGES):
        size = group_sizes[turn % len(group_sizes)]
        for topic, payload in MESSAGES[index : index + size]:
            out.merge(d.handle(topic, payload, defer=True))
        out.merge(d.settle())
        d.snapshots()  # as the processor does before each commit: nothing may wait then
        index += size
        turn += 1
    out.merge(d.end_all("end of the test"))
    assert _by_session(out) == REFERENCE
    assert d.counters() == REFERENCE_COUNTERS


def test_settle_is_needed_before_snapshots():
    d = _dispatcher()
    for topic, payload in MESSAGES[:20]:
        d.handle(topic, payload, defer=True)
    try:
        d.snapshots()
    except RuntimeError as error:
        assert "settle" in str(error)
    else:  # pragma: no cover - the assertion is the test
        raise AssertionError("snapshots() took deferred batches without settling them")
    d.settle()
    assert d.snapshots()

"""A processor restart in the middle of a session (pure: two dispatchers, the state
handed over as the journal would): what was open is closed as interrupted, fixation
numbers go on, and batches delivered again are duplicates - no gap, no reset."""

from __future__ import annotations

from gazewire.processor.config import AlertSettings, ProcessorSettings
from gazewire.processor.pipeline.resume import SessionState
from tests.processor.streams import batch_payloads, make_dispatcher, simulated, status_payload

TOPIC = "lab/s1/gaze/batch"


def restarted(state: SessionState, held: set[int]):
    settings = ProcessorSettings(alerts=AlertSettings(long_fixation_s=0.3, gaze_lost_s=0.2))
    return make_dispatcher(settings, held=lambda session, run, batch_seq: batch_seq in held)


def test_a_restart_closes_open_fixations_and_alerts_as_interrupted_and_numbering_goes_on():
    stream = simulated(12.0, seed=11)
    payloads = batch_payloads(stream.samples, sizes=6)
    settings = ProcessorSettings(alerts=AlertSettings(long_fixation_s=0.3, gaze_lost_s=0.2))
    stored: set[int] = set()
    first = make_dispatcher(settings, held=lambda s, r, b: b in stored)
    first.handle("lab/s1/status", status_payload())
    cut = None
    for index, payload in enumerate(payloads):
        outcome = first.handle(TOPIC, payload)
        stored.update(b.batch_seq for b in outcome.batches)
        states = first.snapshots()
        state = states.get("s1")
        if index > len(payloads) // 3 and state is not None and state.open_fixations and state.open_alerts:
            cut = index
            break
    assert cut is not None, "the stream has a moment with an open fixation and a raised alert"
    state = SessionState.from_json(state.to_json())  # through the journal's bytes

    second = restarted(state, stored)
    resumed = second.resume({"s1": state})
    ends = [e for e in resumed.fixation_events if e.event == "end"]
    assert [e.fixation for e in ends] == [f["fixation"] for f in state.open_fixations]
    assert all(e.interrupted and e.end_utc_us == state.last_sample_utc_us and e.dispersion_deg is None for e in ends)
    cleared = [a for a in resumed.alerts if a.state == "cleared"]
    assert sorted(a.type for a in cleared) == sorted(a["type"] for a in state.open_alerts)
    assert all(a.details["interrupted"] is True for a in cleared)

    # the broker delivers the unacknowledged batches again, then the rest
    again = second.handle(TOPIC, payloads[cut])
    assert [b.batch_seq for b in again.duplicates] == [cut] and not again.batches
    numbers = []
    for payload in payloads[cut + 1:]:
        outcome = second.handle(TOPIC, payload)
        numbers += [e.fixation for e in outcome.fixation_events if e.event == "start"]
    counters = second.counters()
    assert (counters["missing_samples"], counters["gap_batches"], counters["resets"]) == (0, 0, 0)
    assert counters["duplicate_batches"] == 1
    assert numbers and min(numbers) > state.last_fixation, "numbering goes on within the session"


def test_a_batch_below_the_expected_number_is_a_duplicate_exactly_when_the_journal_holds_it():
    stream = simulated(3.0, seed=2)
    payloads = batch_payloads(stream.samples, sizes=6)
    held: set[int] = set()
    d = make_dispatcher(ProcessorSettings(), held=lambda s, r, b: b in held)
    for payload in payloads[:10] + payloads[12:20]:  # 10 and 11 lost on the way
        held.update(b.batch_seq for b in d.handle(TOPIC, payload).batches)
    assert d.counters()["gap_batches"] == 2
    # a broker restored from an old snapshot sends 5..11 again: 10 and 11 are new, the rest held
    taken = [b.batch_seq for p in payloads[5:12] for b in d.handle(TOPIC, p).batches]
    assert taken == [10, 11]
    counters = d.counters()
    assert (counters["late_batches"], counters["duplicate_batches"], counters["resets"]) == (2, 5, 0)

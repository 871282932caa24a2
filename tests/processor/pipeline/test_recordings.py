"""The processor keeps each recording's id on what it stores and derives: gaze
points and markers carry the agent's tag, fixations the recording of their first
sample, alerts the recording at their time. Pure: batches made by the agent's own
BatchBuilder, fed to the dispatcher."""

from __future__ import annotations

from gazewire.agent.pipeline.batch import BatchBuilder
from gazewire.agent.pipeline.combine import combine_eyes
from gazewire.processor.outputs.measurements import RECORDING, measurement
from gazewire.processor.outputs.points import points_of
from gazewire.processor.pipeline.outcome import AoiVisit, Outcome
from gazewire.processor.pipeline.recordings import MAX_CHANGES, RecordingTimeline
from gazewire.wire.messages import Alert, Marker
from tests.processor.streams import UTC_OFFSET_US, dispatcher, feed, parse, simulated


def test_the_timeline_gives_the_recording_at_any_moment():
    timeline = RecordingTimeline()
    assert timeline.at(5) is None and timeline.current is None
    timeline.note(100, None)
    timeline.note(200, "R1")
    timeline.note(250, "R1")  # the same recording goes on
    timeline.note(300, None)
    timeline.note(400, "R2")
    assert [timeline.at(t) for t in (99, 100, 199, 200, 299, 300, 399, 400, 10**18)] == [
        None, None, None, "R1", "R1", None, None, "R2", "R2"]
    assert timeline.current == "R2"
    timeline.note(50, "R3")  # UTC went back: what was noted no longer orders the past
    assert (timeline.at(49), timeline.at(60), timeline.at(400)) == (None, "R3", "R3")


def test_the_timeline_is_bounded():
    timeline = RecordingTimeline()
    for index in range(3 * MAX_CHANGES):
        timeline.note(index * 10, f"R{index}")
    assert timeline.at(0) is None and timeline.at(10 * (3 * MAX_CHANGES - 1)) == f"R{3 * MAX_CHANGES - 1}"


def recorded_batches(samples, plan: list[tuple[str | None, int]], size: int = 6) -> list[bytes]:
    """Batch payloads as an agent makes them: ``plan`` is (recording, samples) in order;
    a batch ends wherever the recording changes."""
    builder = BatchBuilder("s1", "SIM-1", "run-a")
    payloads, index = [], 0
    for recording, count in plan:
        builder.recording = recording
        for sample in samples[index:index + count]:
            builder.add(index, sample["system_time_stamp"] + UTC_OFFSET_US, sample, combine_eyes(sample))
            index += 1
            if len(builder) >= size:
                payloads.append(builder.build(batch_seq=len(payloads), clock_offset_us=UTC_OFFSET_US,
                                              sample_rate_hz=120.0)[0])
        if len(builder):
            payloads.append(builder.build(batch_seq=len(payloads), clock_offset_us=UTC_OFFSET_US,
                                          sample_rate_hz=120.0)[0])
    return payloads


def test_gaze_fixations_and_alerts_carry_the_recording_of_their_samples():
    stream = simulated(40.0, seed=5)
    plan = [(None, 600), ("R1", 1500), (None, 300), ("R2", 1200), (None, len(stream.samples) - 3600)]
    payloads = recorded_batches(stream.samples, plan)
    processor = dispatcher(long_fixation_s=0.4, gaze_lost_s=0.3)
    outcome = feed(processor, payloads)
    outcome.merge(processor.end_all("end of the test"))

    boundaries, start = {}, 0
    for recording, count in plan:
        first_utc = stream.samples[start]["system_time_stamp"] + UTC_OFFSET_US
        boundaries.setdefault(recording, []).append((first_utc, stream.samples[start + count - 1]["system_time_stamp"]
                                                    + UTC_OFFSET_US))
        start += count

    def recording_at(utc_us: int) -> str | None:
        for recording, spans in boundaries.items():
            if any(first <= utc_us <= last for first, last in spans):
                return recording
        # between two spans (a fixation starts in the gap of one sample period): the earlier one's
        earlier = max((last, r) for r, spans in boundaries.items() for _, last in spans if last < utc_us)
        return earlier[1]

    ends = [e for e in outcome.fixation_events if e.event == "end"]
    assert {e.recording for e in ends} == {None, "R1", "R2"}, "fixations in and between recordings"
    for event in outcome.fixation_events:
        assert event.recording == recording_at(event.start_utc_us), event
    spanning = [e for e in ends if recording_at(e.start_utc_us) != recording_at(e.end_utc_us)]
    assert spanning, "the test needs fixations across a start or stop"
    assert all(e.recording == recording_at(e.start_utc_us) for e in spanning), "a fixation is its first sample's"
    movements = [*outcome.saccades, *outcome.pursuits, *outcome.blinks]
    assert outcome.saccades and outcome.blinks, "the test needs the ivd detector's movements"
    assert {m.recording for m in movements} == {None, "R1", "R2"}
    for movement in movements:
        assert movement.recording == recording_at(movement.start_utc_us), movement
    assert outcome.alerts, "the test needs alerts"
    for alert in outcome.alerts:
        assert alert.recording == recording_at(alert.utc_us)

    points = points_of(outcome)
    gaze = [p for p in points if p.measurement == "gaze"]
    assert len(gaze) == len(stream.samples)
    per_recording = {}
    for point in gaze:
        per_recording.setdefault(point.tags.get("recording"), []).append(point.fields["seq"])
    assert {r: len(seqs) for r, seqs in per_recording.items()} == {None: 600 + 300 + len(stream.samples) - 3600,
                                                                  "R1": 1500, "R2": 1200}
    assert per_recording["R1"] == list(range(600, 2100))
    for name, events in (("saccade", outcome.saccades), ("blink", outcome.blinks)):
        assert [p.tags.get("recording") for p in points if p.measurement == name] == [e.recording for e in events]
    fixation_points = [p for p in points if p.measurement == "fixation"]
    assert [p.tags.get("recording") for p in fixation_points] == [e.recording for e in ends]


def test_recording_tags_are_defined_once_and_absent_between_recordings():
    for name in ("gaze", "fixation", "saccade", "pursuit", "blink", "alert", "aoi_visit", "marker"):
        assert RECORDING in measurement(name).tags, name
    marker = Marker(session="s1", name="x", utc="u", utc_ns=1_800_000_000_000_000_000, recording="R1")
    unrecorded = Marker(session="s1", name="x", utc="u", utc_ns=1_800_000_000_000_000_000)
    alert = Alert(session="s1", type="gaze_lost", state="raised", severity="warning", utc="u", utc_us=5)
    visit = AoiVisit("s1", "left", 1, 2, 1, recording="R1")
    points = points_of(Outcome(markers=[marker, unrecorded], alerts=[alert], aoi_visits=[visit]))
    assert [p.tags.get("recording") for p in points] == ["R1", None, "R1", None]
    assert all("recording" not in p.tags for p in points if p.tags.get("recording") is None)


def test_a_batch_from_an_old_agent_has_no_recording_and_is_stored_as_before():
    stream = simulated(2.0, seed=1)
    payloads = recorded_batches(stream.samples, [(None, len(stream.samples))])
    assert all(parse(p).recording is None for p in payloads)
    outcome = feed(dispatcher(), [p.replace(b',"recording":null', b"") for p in payloads])
    assert [p.tags for p in points_of(outcome) if p.measurement == "gaze"][0] == {"session": "s1", "device": "SIM-1"}

"""The client library against a real Mosquitto and a real (simulated) agent:
recordings, markers in the right recording, a client on a shifted clock,
live streams, waiting, the session list, and the same in asyncio."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid

import pytest

from gazewire.client import AsyncLab, Lab
from gazewire.errors import AlreadyRecording, CommandRefused, NotRecording, WaitTimeout
from gazewire.wire.messages import AgentStatus, LiveGaze, RecordingInfo, TrackerInfo
from tests.client.test_statuses import publish_retained
from tests.support.lab_device import LabDevice

pytestmark = pytest.mark.broker

SHIFT_NS = 250_000_000  # the experiment PC's clock is 250 ms ahead of the agent's


def shifted_clock() -> int:
    return time.time_ns() + SHIFT_NS


@pytest.fixture
def tracking(broker, start_agent):
    """A session whose simulated agent is tracking; returns its id."""
    session = "client-" + uuid.uuid4().hex[:6]
    start_agent("--session", session)
    with Lab(broker.host, broker.port) as lab:
        lab.session(session).wait_for("tracking", timeout=30)
    return session


def test_two_recordings_in_a_row_with_their_markers(broker, tracking, lab_devices):
    events = LabDevice(broker.host, broker.port, [f"lab/{tracking}/events"])
    lab_devices.append(events)
    with Lab(broker.host, broker.port) as lab:
        room = lab.session(tracking)
        with pytest.raises(NotRecording, match="stop: no recording is running"):
            room.stop_recording()
        first = room.start_recording(name="words", participant="P01", metadata={"group": "control", "age": 31})
        assert (first.session, first.name, first.participant) == (tracking, "words", "P01")
        assert first.metadata == {"group": "control", "age": "31"}
        with pytest.raises(AlreadyRecording) as already:
            room.start_recording(participant="P02")
        assert already.value.recording == first.id and isinstance(already.value, CommandRefused)
        status = room.wait_for(condition=lambda s: s.recording is not None and s.recording.id == first.id)
        assert isinstance(status.recording, RecordingInfo) and status.recording.participant == "P01"
        on = room.marker("stimulus_on")
        assert on.recording == first.id and on.session == tracking
        with pytest.raises(NotRecording, match="is not running"):
            room.stop_recording("20000101T000000Z-0000")
        annotated = room.annotate({"site": "B"}, recording=first.id)
        assert annotated.metadata == {"group": "control", "age": "31", "site": "B"}
        stopped = room.stop_recording(first.id)
        assert stopped.id == first.id and stopped.samples > 0 and stopped.stopped_utc is not None
        assert stopped.duration_s is not None and stopped.duration_s > 0
        assert (stopped.name, stopped.participant) == ("words", "P01")
        assert stopped.metadata == {"group": "control", "age": "31", "site": "B"}  # the stop's answer has it too

        between = room.marker("between")
        assert between.recording is None

        second = room.start_recording(participant="P02")
        pending = room.marker("stimulus_on", wait=False)
        assert pending.result(10).recording == second.id
        room.stop_recording()
        assert second.id != first.id and second.started_utc > first.started_utc
    taken = events.wait_for(lambda messages: len(messages) >= 3 and messages, what="three markers")
    assert [(m.json()["name"], m.json()["recording"]) for m in taken] == [
        ("stimulus_on", first.id), ("between", None), ("stimulus_on", second.id)]


def test_a_client_on_a_shifted_clock_gets_its_markers_within_the_measured_offset(broker, tracking):
    with Lab(broker.host, broker.port, clock=shifted_clock) as lab:
        room = lab.session(tracking)
        offset = room.clock_offset(probes=10)
        assert offset.probes == 10 and offset.round_trip_ns > 0
        assert abs(offset.offset_ns + SHIFT_NS) <= offset.uncertainty_ns  # what the bound promises
        assert room.offset is offset

        before = time.time_ns()  # the true time (the agent's clock is this machine's)
        corrected = room.marker("corrected", apply_offset=True)
        after = time.time_ns()
        assert before - offset.uncertainty_ns <= corrected.utc_ns <= after + offset.uncertainty_ns

        before = time.time_ns()
        uncorrected = room.marker("uncorrected")  # stamped on the shifted clock as it is: 250 ms late
        assert uncorrected.utc_ns - before >= SHIFT_NS - offset.uncertainty_ns

        at = shifted_clock()  # a moment given on the client's clock is moved too
        given = room.marker("given", utc_ns=at, apply_offset=True)
        assert given.utc_ns == at + offset.offset_ns


def test_the_first_corrected_marker_measures_the_offset(broker, tracking):
    with Lab(broker.host, broker.port, clock=shifted_clock) as lab:
        room = lab.session(tracking)
        assert room.offset is None
        before = time.time_ns()
        marker = room.marker("first", apply_offset=True)
        after = time.time_ns()
        assert room.offset is not None
        assert before - room.offset.uncertainty_ns <= marker.utc_ns <= after + room.offset.uncertainty_ns


def test_live_gaze_iterates_or_calls_back(broker, tracking):
    with Lab(broker.host, broker.port) as lab:
        room = lab.session(tracking)
        with room.gaze(timeout=10) as gaze:
            first = [next(gaze) for _ in range(5)]
            assert all(isinstance(g, LiveGaze) and g.session == tracking for g in first)
            assert [g.seq for g in first] == sorted(g.seq for g in first)
            assert gaze.invalid == 0
        assert gaze.get() is None  # closed: nothing more
        seen: list[LiveGaze] = []
        arrived = threading.Event()

        def take(sample: LiveGaze) -> None:
            seen.append(sample)
            if len(seen) >= 3:
                arrived.set()

        with lab.gaze(callback=take):
            assert arrived.wait(10)
        assert {g.session for g in seen} == {tracking}


def test_sessions_lists_the_stations_with_stale_ones_marked(broker, tracking):
    old = AgentStatus(session="old-pc", state="tracking", utc="2020-01-01T00:00:00.000000Z", agent_version="0.1.0",
                      host="old", tracker=TrackerInfo(model="Tobii Pro Fusion", serial="TPFC2-1", source="tobii"))
    gone = AgentStatus(session="gone-pc", state="offline", utc=None, agent_version="0.1.0", host="gone")
    publish_retained(broker, {"lab/old-pc/status": old.to_json(), "lab/gone-pc/status": gone.to_json()})
    with Lab(broker.host, broker.port) as lab:
        listed = {info.session: info for info in lab.sessions()}
    assert set(listed) == {tracking, "old-pc", "gone-pc"}
    assert listed[tracking].state == "tracking" and not listed[tracking].stale
    assert listed[tracking].age_s is not None and listed[tracking].recording is None
    assert listed["old-pc"].stale and listed["old-pc"].tracker_name == "Tobii Pro Fusion TPFC2-1"
    assert listed["gone-pc"].state == "offline" and not listed["gone-pc"].stale and listed["gone-pc"].age_s is None


def test_wait_for_names_the_last_state_when_it_gives_up(broker, tracking):
    with Lab(broker.host, broker.port) as lab:
        room = lab.session(tracking)
        assert room.status().state == "tracking"
        with pytest.raises(WaitTimeout, match=rf"^session '{tracking}' to be offline: not within 0.3 s "
                                              r"\(last state: tracking\)$"):
            room.wait_for("offline", timeout=0.3)


def test_the_asyncio_client_does_the_same(broker, tracking):
    async def experiment() -> None:
        async with AsyncLab(broker.host, broker.port, clock=shifted_clock) as lab:
            room = lab.session(tracking)
            assert (await room.wait_for("tracking")).state == "tracking"
            offset = await room.clock_offset()
            assert abs(offset.offset_ns + SHIFT_NS) <= offset.uncertainty_ns
            recording = await room.start_recording(participant="P05")
            with pytest.raises(AlreadyRecording):
                await room.start_recording(participant="P06")
            async with room.gaze(timeout=10) as gaze:
                async for sample in gaze:
                    assert sample.recording in (None, recording.id)
                    if sample.recording == recording.id:
                        break
            before = time.time_ns()
            marker = await room.marker("looked", apply_offset=True)
            after = time.time_ns()
            assert marker.recording == recording.id
            assert before - offset.uncertainty_ns <= marker.utc_ns <= after + offset.uncertainty_ns
            stopped = await room.stop_recording()
            assert stopped.id == recording.id and stopped.samples > 0
            assert [s.session for s in await lab.sessions()] == [tracking]

    asyncio.run(experiment())


@pytest.mark.parametrize(
    ("command", "error", "code", "result", "expected"),
    [
        # by the code: the text may be reworded
        ("start", "start: reworded", "already_recording", {"recording": "R1"}, (AlreadyRecording, "R1")),
        ("stop", "stop: reworded", "not_recording", None, (NotRecording, None)),
        ("start", "start: the disk is gone", "refused", None, (CommandRefused, None)),
        # an agent older than the code: by its documented text
        ("start", "start: recording R2 (participant P01) is running; stop it first", None, None, (AlreadyRecording, "R2")),
        ("annotate", "annotate: no recording is running", None, None, (NotRecording, None)),
        ("stop", "stop: recording X is not running (R3 is)", None, None, (NotRecording, None)),
        ("marker", "marker: something else", None, None, (CommandRefused, None)),
    ],
)
def test_a_refusal_is_read_by_its_code_and_from_older_agents_by_its_text(command, error, code, result, expected):
    from gazewire.client.commands import refusal_of

    assert refusal_of(command, error, code=code, result=result) == expected

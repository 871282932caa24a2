"""Recordings stored by the real processor in VictoriaMetrics (through InfluxDB's
``/api/v2/write``; InfluxDB 2.7 when a Docker daemon answers): an agent on a real
Mosquitto makes two recordings in a row on commands an experiment script sends,
and every stored gaze point carries the recording of its sample (none between
recordings), so a dashboard can pick one. Markers and fixations too."""

from __future__ import annotations

import json
import uuid

import pytest

from gazewire.processor.config import InfluxSettings
from gazewire.processor.journal.records import RecordKind
from gazewire.wire.messages import CommandReply, GazeBatch
from tests.processor.outputs.test_time_series_server import influx_settings
from tests.support.influx import wait_for_series
from tests.support.lab_device import LabDevice

pytestmark = pytest.mark.broker


def test_two_recordings_are_stored_in_victoriametrics_each_sample_under_its_own_recording_tag(
    broker, lab_devices, start_processor, start_inprocess_agent, time_series_server
):
    server = time_series_server
    session = "tag-" + uuid.uuid4().hex[:6]
    script = LabDevice(broker.host, broker.port, [f"lab/{session}/gaze/batch", f"lab/{session}/cmd/reply"])
    lab_devices.append(script)
    processor = start_processor(influx=InfluxSettings(**influx_settings(server)), alerts={"long_fixation_s": 0.3})
    agent = start_inprocess_agent(session, seed=4, speed=4.0)  # 120 Hz at 4x: samples 8.3 ms apart in UTC

    def batches() -> dict[int, GazeBatch]:
        found = (GazeBatch.model_validate_json(m.payload) for m in script.on(f"lab/{session}/gaze/batch"))
        return {b.batch_seq: b for b in found}

    def samples_of(recording: str | None) -> int:
        return sum(b.count for b in batches().values() if b.recording == recording)

    def command(request: str, **fields) -> CommandReply:
        script.publish(f"lab/{session}/cmd", {"id": request, **fields})

        def reply(messages):
            for m in messages:
                if m.topic.endswith("/cmd/reply") and json.loads(m.payload)["id"] == request:
                    return CommandReply.model_validate_json(m.payload)
            return None

        answer = script.wait_for(reply, what=f"reply to {request}")
        assert answer.ok, answer.error
        return answer

    recordings = []
    for index in range(2):
        script.wait_for(lambda _, n=200 * (index + 1): samples_of(None) >= n, timeout_s=30, what="samples between")
        recording = command(f"start-{index}", command="start", participant=f"P0{index + 1}").result["recording"]
        recordings.append(recording)
        script.wait_for(lambda _, r=recording: samples_of(r) >= 600, timeout_s=30, what=f"samples of {recording}")
        command(f"marker-{index}", command="marker", name=f"trial_{index + 1}")
        command(f"stop-{index}", command="stop")
    agent.stop()
    total = sum(b.count for b in batches().values())
    processor.wait_for(lambda: processor.counters()["samples"] >= total, what="every sample processed")
    processor.wait_for(lambda: processor.processor.feed.caught_up, what="the sink to catch up with the journal")

    resolution = server.time_resolution_us
    expected: dict[str | None, dict[int, int]] = {}  # recording -> stored time -> seq
    for batch in batches().values():
        for seq, utc_us in zip(batch.columns.seq, batch.columns.utc_us):
            expected.setdefault(batch.recording, {})[utc_us // resolution] = seq
    assert set(expected) == {None, *recordings}
    stored = wait_for_series(server, "gaze", "seq", lambda s: sum(map(len, s.values())) >= total)
    by_recording: dict[str | None, dict[int, int]] = {}
    for labels, points in stored.items():
        tags = dict(labels)
        assert tags["session"] == session
        assert set(tags) <= {"session", "device", "recording"}
        for time_us, value in points:
            by_recording.setdefault(tags.get("recording"), {})[time_us // resolution] = int(value)
    assert by_recording == expected, "every sample once, under its own recording (and none between)"

    # The journal holds each recording's batches and markers under its id (what export reads).
    journal = processor.processor.journal
    for recording in recordings:
        held = list(journal.read_session(session, recording=recording, kinds=[RecordKind.BATCH, RecordKind.MARKER]))
        seqs = sorted(seq for r in held if r.kind is RecordKind.BATCH
                      for seq in GazeBatch.model_validate_json(r.body).columns.seq)
        assert seqs == sorted(expected[recording].values())
        assert [r.kind for r in held].count(RecordKind.MARKER) == 1

    fixations = wait_for_series(server, "fixation", "duration_ms", lambda s: len(s) >= 1)
    tagged = {dict(labels).get("recording") for labels in fixations}
    assert tagged & set(recordings), "fixations in a recording carry its tag"
    published = processor.of("fixations")
    assert {f.recording for f in published} <= {None, *recordings}
    assert {f.recording for f in published} & set(recordings)

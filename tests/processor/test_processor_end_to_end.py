"""End to end through a real Mosquitto: simulated agent → broker → processor →
fixations, AOI events and alerts on the broker and points in line-protocol files,
compared with what the simulator generated and what the agent sent.

No sleeps as synchronisation: every wait is for a message, a counter or a process.
"""

from __future__ import annotations

import json
import math
import uuid
from collections import defaultdict
from pathlib import Path

import pytest

from gazewire.wire.messages import (
    Alert,
    AoiEvent,
    BlinkEvent,
    FixationEvent,
    GazeBatch,
    ProcessorStatus,
    SaccadeEvent,
)
from tests.support.lab_device import LabDevice, Received

pytestmark = pytest.mark.broker


def device(broker, lab_devices, *topics: str) -> LabDevice:
    subscriber = LabDevice(broker.host, broker.port, list(topics))
    lab_devices.append(subscriber)
    return subscriber


def unique_batches(messages: list[Received], session: str) -> dict[int, GazeBatch]:
    batches: dict[int, GazeBatch] = {}
    for message in messages:
        if message.topic == f"lab/{session}/gaze/batch":
            batch = GazeBatch.model_validate_json(message.payload)
            batches.setdefault(batch.batch_seq, batch)
    return batches


def read_lines(directory: Path, session: str, measurement: str) -> list[tuple[dict[str, str], int]]:
    """(fields as text, timestamp) of every line of ``measurement`` in the session's .lp files."""
    rows = []
    for path in sorted((directory / session).glob("*.lp")):
        for line in path.read_text().splitlines():
            head, fields, stamp = line.rsplit(" ", 2)
            if head.split(",")[0] != measurement:
                continue
            values = dict(item.split("=", 1) for item in fields.split(","))
            rows.append((values, int(stamp)))
    return rows


def test_simulated_agent_to_processor_fixations_alerts_aoi_and_stored_points(
    broker, lab_devices, start_processor, start_inprocess_agent, tmp_path
):
    session = "e2e-" + uuid.uuid4().hex[:6]
    aoi_file = tmp_path / "aoi.toml"
    aoi_file.write_text('[[aoi]]\nname = "left"\nx_min = 0.0\ny_min = 0.0\nx_max = 0.5\ny_max = 1.0\n')
    lab = device(broker, lab_devices, f"lab/{session}/#")
    processor = start_processor(
        aoi_file=aoi_file,
        alerts={"long_fixation_s": 0.3, "aoi_dwell_s": 0.6, "gaze_lost_s": 0.09},
    )
    samples = 120 * 25
    agent = start_inprocess_agent(session, seed=5, limit=samples, speed=5.0)
    agent.wait_finished()
    processor.wait_for(
        lambda: processor.counters()["samples"] >= samples, what=f"{samples} samples processed"
    )
    truth = agent.tracker.ground_truth

    # --- fixations on the broker, compared with the simulated ones
    def published(channel: str, model):
        return [model.model_validate_json(m.payload) for m in lab.messages if m.topic == f"lab/{session}/{channel}"]

    expected_fixation_messages = len(processor.of("fixations"))
    lab.wait_for(
        lambda ms: sum(m.topic.endswith("/fixations") for m in ms) >= expected_fixation_messages,
        what="every fixation event on the broker",
    )
    batches = unique_batches(lab.messages, session)
    utc_of_seq = {seq: utc for b in batches.values() for seq, utc in zip(b.columns.seq, b.columns.utc_us)}
    assert sorted(utc_of_seq) == list(range(samples)), "the agent sent every sample"
    ends = [f for f in published("fixations", FixationEvent) if f.event == "end"]
    long_truth = [f for f in truth.fixations if f.duration_ms >= 100]
    matched = 0
    for fixation in long_truth:
        start, end = utc_of_seq[fixation.start_index], utc_of_seq[fixation.end_index - 1]
        close = [
            e for e in ends
            if e.start_utc_us <= end and e.end_utc_us >= start
            and math.hypot(e.x_deg - fixation.x_deg, e.y_deg - fixation.y_deg) < 1.0
        ]
        matched += bool(close)
    assert len(long_truth) > 60
    assert matched >= 0.9 * len(long_truth), f"{matched} of {len(long_truth)} simulated fixations detected"

    # --- alerts: raised and cleared in pairs, each kind seen
    alerts = published("alerts", Alert)
    by_kind = defaultdict(list)
    for alert in alerts:
        by_kind[(alert.type, alert.details.get("aoi"))].append(alert.state)
    for key, states in by_kind.items():
        assert states[: len(states) // 2 * 2] == ["raised", "cleared"] * (len(states) // 2), key
    assert ("long_fixation", None) in by_kind and ("aoi_dwell", "left") in by_kind
    blinks = [b for b in truth.blinks if b.duration_ms >= 120]
    assert blinks and len([s for s in by_kind[("gaze_lost", None)] if s == "raised"]) >= len(blinks)
    aoi = published("aoi", AoiEvent)
    assert [e.event for e in aoi][:2] == ["enter", "exit"] and all(e.aoi == "left" for e in aoi)

    # --- the same batch again (QoS 1 redelivery, a replay): dropped, counted, not stored twice
    some = next(m for m in lab.messages if m.topic == f"lab/{session}/gaze/batch")
    lab.publish(some.topic, some.payload)
    processor.wait_for(lambda: processor.counters()["duplicate_batches"] >= 1, what="the duplicate counted")

    # --- stored points: one gaze line per sample, with the values that were sent
    # the sink writes from the journal, on its own thread: wait until it has caught up
    lp = Path(processor.processor.current_status().sink["target"])
    processor.wait_for(
        lambda: processor.counters()["records_behind"] == 0 and len(read_lines(lp, session, "gaze")) >= samples,
        what="the sink caught up",
    )
    gaze = read_lines(lp, session, "gaze")
    assert len(gaze) == samples, "each sample stored exactly once"
    by_seq = {int(fields["seq"].rstrip("i")): (fields, stamp) for fields, stamp in gaze}
    for batch in batches.values():
        c = batch.columns
        for i in range(batch.count):
            fields, stamp = by_seq[c.seq[i]]
            assert stamp == c.utc_us[i]
            assert (float(fields["x"]) if "x" in fields else None) == c.x[i]
            assert (float(fields["left_pupil"]) if "left_pupil" in fields else None) == c.left_pupil[i]
            assert fields["left_valid"] == f"{c.left_valid[i]}i"
    # the agent's "stopped" status ends the stream and its last fixation: wait for it, then
    # compare what was stored with every end published
    processor.wait_for(
        lambda: processor.processor.dispatcher.sessions[session].agent_state in ("stopped", "offline"),
        what="the agent's stopped status handled",
    )
    statuses = len(processor.of("processor/status"))  # the next one comes after that status's outcome
    processor.wait_for(lambda: len(processor.of("processor/status")) > statuses, what="a processor status")
    processor.wait_for(lambda: processor.counters()["records_behind"] == 0, what="the sink caught up")
    stored_fixations = read_lines(lp, session, "fixation")
    lab.wait_for(
        lambda ms: sum(m.topic.endswith("/fixations") for m in ms) >= len(processor.of("fixations")),
        what="every fixation event on the broker",
    )
    ends = [f for f in published("fixations", FixationEvent) if f.event == "end"]
    # saccades and blinks (algorithm ivd, the default): on the broker, stored once each
    for channel, model in (("saccades", SaccadeEvent), ("blinks", BlinkEvent)):
        lab.wait_for(
            lambda ms, c=channel: sum(m.topic.endswith(f"/{c}") for m in ms) >= len(processor.of(c)),
            what=f"every {channel} message on the broker",
        )
        events = published(channel, model)
        stored = read_lines(lp, session, channel[:-1])
        assert events and sorted(stamp for _, stamp in stored) == sorted(e.start_utc_us for e in events)
    assert len(published("saccades", SaccadeEvent)) >= 0.8 * len(truth.saccades)
    assert sorted(stamp for _, stamp in stored_fixations) == sorted(e.start_utc_us for e in ends)
    stored_alerts = [
        line for path in (lp / session).glob("*.lp") for line in path.read_text().splitlines() if line.startswith("alert,")
    ]
    lab.wait_for(  # the stopped stream may have cleared alerts since they were counted above
        lambda ms: sum(m.topic.endswith("/alerts") for m in ms) >= len(processor.of("alerts")),
        what="every alert on the broker",
    )
    assert len(stored_alerts) == len(published("alerts", Alert))

    # --- the retained processor status says what happened
    retained = device(broker, lab_devices, "lab/_sys/processor/test-processor/status")
    final = retained.wait_for(
        lambda ms: [s for s in (ProcessorStatus.model_validate_json(m.payload) for m in ms)
                    if s.counters.get("duplicate_batches", 0) >= 1],
        what="a status with the duplicate",
    )[-1]
    assert final.state == "online" and final.counters["samples"] == samples
    summary = final.sessions[session]
    assert summary["agent_state"] in ("stopped", "offline") and summary["gap_batches"] == 0
    assert summary["display_from_agent"] is True and 600 < summary["eye_distance_mm"] < 700
    assert summary["aois"] == [{"name": "left", "x_min": 0.0, "y_min": 0.0, "x_max": 0.5, "y_max": 1.0}], (
        "live views draw the session's AOI rectangles from the processor status"
    )


def test_agent_killed_raises_agent_offline_and_its_return_clears_it(
    broker, lab_devices, start_processor, start_agent, tmp_path
):
    session = "kill-" + uuid.uuid4().hex[:6]
    lab = device(broker, lab_devices, f"lab/{session}/alerts", f"lab/{session}/status")
    processor = start_processor()
    agent = start_agent("--session", session, "--speed", "1")
    processor.wait_for(
        lambda: any(s.get("agent_state") == "tracking" and s.get("samples", 0) > 0
                    for s in processor.processor.dispatcher.session_summaries().values()),
        what="the agent tracking and its samples processed",
    )
    agent.kill()  # SIGKILL: no goodbye, the broker publishes the last will
    raised = lab.wait_for(
        lambda ms: [Alert.model_validate_json(m.payload) for m in ms if m.topic.endswith("/alerts")
                    and json.loads(m.payload)["type"] == "agent_offline"],
        what="agent_offline raised",
    )[0]
    assert (raised.state, raised.severity, raised.details["last_will"]) == ("raised", "critical", True)

    start_agent("--session", session, "--speed", "1")  # same data dir: the counters go on
    cleared = lab.wait_for(
        lambda ms: [a for a in (Alert.model_validate_json(m.payload) for m in ms if m.topic.endswith("/alerts"))
                    if a.type == "agent_offline" and a.state == "cleared"],
        what="agent_offline cleared",
    )[0]
    assert cleared.utc_us >= raised.utc_us and cleared.details["offline_ms"] >= 0
    offline_alerts = processor.wait_for(
        lambda: [a.state for a in processor.of("alerts") if a.type == "agent_offline"] == ["raised", "cleared"],
        what="exactly one raised and one cleared agent_offline",
    )
    assert offline_alerts
    summary = processor.processor.dispatcher.session_summaries()[session]
    assert summary["resets"] == 0 and summary["duplicate_batches"] >= 0

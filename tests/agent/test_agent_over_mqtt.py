"""The agent checked from the outside: ``gazewire agent run`` as a child
process, a real Mosquitto, and a plain MQTT subscriber as any lab device.

No sleeps as synchronisation: every wait is for a message or a process exit.
"""

from __future__ import annotations

import json
import signal
import uuid

import pytest

from gazewire.wire.messages import AgentStatus, CommandReply, GazeBatch, LiveGaze, Marker
from tests.support.lab_device import LabDevice, Received

pytestmark = pytest.mark.broker


def device(broker, lab_devices, *topics, **kwargs) -> LabDevice:
    subscriber = LabDevice(broker.host, broker.port, list(topics), **kwargs)
    lab_devices.append(subscriber)
    return subscriber


def statuses(messages: list[Received], session: str) -> list[AgentStatus]:
    return [AgentStatus.model_validate_json(m.payload) for m in messages if m.topic == f"lab/{session}/status"]


def state_is(session: str, state: str):
    def check(messages: list[Received]):
        return any(s.state == state for s in statuses(messages, session))

    return check


def batches(messages: list[Received], session: str) -> list[GazeBatch]:
    return [GazeBatch.model_validate_json(m.payload) for m in messages if m.topic == f"lab/{session}/gaze/batch"]


def unique_samples(received: list[GazeBatch]) -> tuple[list[int], int]:
    """Sample seqs in arrival order, keeping one copy of a batch delivered twice
    (QoS 1 is at-least-once); returns (seqs, wire duplicates)."""
    seen: dict[int, GazeBatch] = {}
    order: list[int] = []
    duplicates = 0
    for batch in received:
        if batch.batch_seq in seen:
            assert seen[batch.batch_seq].columns.seq == batch.columns.seq, "same batch_seq, different samples"
            duplicates += 1
            continue
        seen[batch.batch_seq] = batch
        order.extend(batch.columns.seq)
    return order, duplicates


def all_samples_arrived(session: str, total: int):
    def check(messages):
        seqs, _ = unique_samples(batches(messages, session))
        return len(set(seqs)) >= total

    return check


# --------------------------------------------------------------------------- status


def test_status_is_retained_and_the_last_will_says_offline_after_sigkill(broker, start_agent, lab_devices):
    session = "will-" + uuid.uuid4().hex[:6]
    watcher = device(broker, lab_devices, f"lab/{session}/status")
    agent = start_agent("--session", session, "--speed", "1")
    watcher.wait_for(state_is(session, "tracking"), what="status tracking")

    late = device(broker, lab_devices, f"lab/{session}/status")  # joins after the fact
    first = late.wait_for(lambda m: m, what="retained status")[0]
    assert first.retain, "status must be retained"
    status = AgentStatus.model_validate_json(first.payload)
    assert status.state == "tracking" and status.tracker and status.tracker.serial
    assert status.display_area and status.display_area.width_mm > 0
    assert status.clock is not None and status.clock.round_trip_us >= 0

    agent.process.send_signal(signal.SIGKILL)
    agent.process.wait(10)
    watcher.wait_for(state_is(session, "offline"), what="last will")
    will = statuses(watcher.messages, session)[-1]
    assert will.state == "offline" and "last will" in (will.reason or "")
    newcomer = device(broker, lab_devices, f"lab/{session}/status")
    retained = newcomer.wait_for(lambda m: m, what="retained will")[0]
    assert retained.retain and AgentStatus.model_validate_json(retained.payload).state == "offline"


def test_clean_shutdown_flushes_and_says_offline(broker, start_agent, lab_devices):
    session = "clean-" + uuid.uuid4().hex[:6]
    watcher = device(broker, lab_devices, f"lab/{session}/#")
    agent = start_agent("--session", session)
    watcher.wait_for(lambda m: batches(m, session), what="first batch")
    assert agent.terminate() == 0, agent.log()
    watcher.wait_for(state_is(session, "offline"), what="offline status")
    final = statuses(watcher.messages, session)[-1]
    assert final.reason == "agent stopped"
    seqs, _ = unique_samples(batches(watcher.messages, session))
    assert seqs == list(range(len(seqs)))
    assert final.counters.samples_in == len(seqs) == final.counters.samples_published
    assert final.counters.outbox_depth == 0


# --------------------------------------------------------------------------- live view


def test_live_rate_never_exceeds_publish_hz(broker, start_agent, lab_devices):
    session = "rate-" + uuid.uuid4().hex[:6]
    publish_hz = 10
    watcher = device(broker, lab_devices, f"lab/{session}/gaze", qos=0)
    start_agent("--session", session, "--publish-hz", str(publish_hz), "--frequency", "600")
    live = watcher.wait_for(lambda m: m if len(m) >= 40 else None, timeout_s=20, what="40 live messages")
    messages = [LiveGaze.model_validate_json(m.payload) for m in live]
    # The agent spaces its live messages at least 1/publish_hz apart (by its own
    # clock); a subscriber sees them with network jitter, which can move one
    # message across the edge of a one-second window: hence the "+ 1".
    arrivals = [m.at for m in live]
    for i in range(len(arrivals)):
        in_window = sum(1 for t in arrivals[i:] if t - arrivals[i] < 1.0)
        assert in_window <= publish_hz + 1, f"{in_window} live messages within one second"
    overall = (len(arrivals) - 1) / (arrivals[-1] - arrivals[0])
    assert overall <= publish_hz * 1.02
    assert overall >= publish_hz * 0.7, f"live rate {overall:.1f}/s is far below {publish_hz}"
    assert [m.seq for m in messages] == list(range(messages[0].seq, messages[0].seq + len(messages)))
    assert all(m.eye in ("both", "left", "right") and m.sample_seq >= 0 for m in messages)
    assert sum(m.samples for m in messages[1:]) == messages[-1].sample_seq - messages[0].sample_seq


# --------------------------------------------------------------------------- lossless batches


def test_every_sample_arrives_exactly_once_in_order(broker, start_agent, lab_devices):
    session = "all-" + uuid.uuid4().hex[:6]
    total = 3000
    watcher = device(broker, lab_devices, f"lab/{session}/gaze/batch")
    agent = start_agent(
        "--session", session, "--frequency", "300", "--speed", "5",
        "--sample-limit", str(total), "--exit-when-finished",
    )
    watcher.wait_for(all_samples_arrived(session, total), timeout_s=30, what=f"{total} samples")
    assert agent.process.wait(20) == 0, agent.log()
    received = batches(watcher.messages, session)
    seqs, duplicates = unique_samples(received)
    assert seqs == list(range(total)), "samples missing, duplicated or out of order"
    assert duplicates == 0
    assert [b.batch_seq for b in received] == list(range(len(received)))
    for batch in received:
        times = batch.columns.device_time_us
        assert times == sorted(times)
        invalid = [i for i, eye in enumerate(batch.columns.eye) if eye == "none"]
        assert all(batch.columns.x[i] is None for i in invalid)
    valid_share = sum(e != "none" for b in received for e in b.columns.eye) / total
    assert 0.5 < valid_share < 1.0, "the simulator blinks, so some but not most samples are invalid"


def test_broker_restart_mid_session_loses_and_duplicates_nothing(broker, start_agent, lab_devices):
    session = "restart-" + uuid.uuid4().hex[:6]
    total = 2400
    # A persistent QoS 1 subscriber, as the processor is, so the broker queues for it.
    watcher = device(broker, lab_devices, f"lab/{session}/gaze/batch", client_id=f"rec-{session}", persistent=True)
    agent = start_agent(
        "--session", session, "--frequency", "120", "--sample-limit", str(total), "--exit-when-finished",
    )
    watcher.wait_for(lambda m: len(batches(m, session)) >= 10, what="first batches")
    broker.stop()
    broker.start()  # same port, persistence on
    watcher.wait_for(all_samples_arrived(session, total), timeout_s=60, what=f"{total} samples after restart")
    assert agent.process.wait(20) == 0, agent.log()
    seqs, duplicates = unique_samples(batches(watcher.messages, session))
    assert seqs == list(range(total))
    log = agent.log()
    assert "disconnected from broker" in log and log.count("connected to") >= 2


def test_backlog_is_kept_on_disk_and_replayed_after_a_restart(broker, start_agent, lab_devices, tmp_path):
    session = "backlog-" + uuid.uuid4().hex[:6]
    data = tmp_path / "data"
    broker.stop()  # the agent starts with no broker to talk to
    agent = start_agent(
        "--session", session, "--frequency", "120", "--speed", "4", "--sample-limit", "960",
        "--exit-when-finished", data_dir=data,
    )
    assert agent.process.wait(30) == 0, agent.log()
    assert "stay in the outbox" in agent.log()
    broker.start()
    watcher = device(broker, lab_devices, f"lab/{session}/#")
    start_agent("--session", session, "--frequency", "120", "--sample-limit", "240", "--exit-when-finished", data_dir=data)
    watcher.wait_for(all_samples_arrived(session, 1200), timeout_s=30, what="backlog and new samples")
    seqs, duplicates = unique_samples(batches(watcher.messages, session))
    assert seqs == list(range(1200)), "the sequence continues across restarts, backlog first"
    assert duplicates == 0


# --------------------------------------------------------------------------- commands


def test_markers_and_commands_round_trip(broker, start_agent, lab_devices, tmp_path):
    session = "cmd-" + uuid.uuid4().hex[:6]
    data = tmp_path / "data"
    operator = device(broker, lab_devices, f"lab/{session}/#")
    start_agent("--session", session, data_dir=data)
    operator.wait_for(state_is(session, "tracking"), what="tracking")

    def reply_to(request_id):
        def check(messages):
            for m in messages:
                if m.topic == f"lab/{session}/cmd/reply" and json.loads(m.payload).get("id") == request_id:
                    return CommandReply.model_validate_json(m.payload)
            return None

        return check

    operator.publish(f"lab/{session}/cmd", {"id": "p1", "command": "ping"})
    pong = operator.wait_for(reply_to("p1"), what="ping reply")
    assert pong.ok and pong.result["samples_in"] >= 0 and pong.state == "tracking"

    utc_ns = 1_800_000_000_123_456_789
    operator.publish(f"lab/{session}/cmd", {"id": "m1", "command": "marker", "name": "stimulus_on", "utc_ns": utc_ns})
    assert operator.wait_for(reply_to("m1"), what="marker reply").ok
    marker_message = operator.wait_for(
        lambda ms: [m for m in ms if m.topic == f"lab/{session}/events"], what="marker event"
    )[0]
    marker = Marker.model_validate_json(marker_message.payload)
    assert (marker.name, marker.utc_ns, marker.kind) == ("stimulus_on", utc_ns, "marker")
    assert marker.system_time_us is not None

    operator.publish(f"lab/{session}/cmd", {"id": "s1", "command": "stop"})
    refused = operator.wait_for(reply_to("s1"))
    assert (refused.ok, refused.error, refused.state) == (False, "stop: no recording is running", "tracking")
    operator.publish(f"lab/{session}/cmd", {"id": "s2", "command": "start"})
    started = operator.wait_for(reply_to("s2"))
    assert started.ok and started.state == "tracking" and started.result["recording"]
    operator.publish(f"lab/{session}/cmd", {"id": "s3", "command": "stop"})
    stopped = operator.wait_for(reply_to("s3"))
    assert stopped.ok and stopped.state == "tracking", "a stop ends the recording, not the stream"

    for request_id, bad in [("b1", {"id": "b1", "command": "explode"}), ("b2", {"id": "b2", "command": "marker"})]:
        operator.publish(f"lab/{session}/cmd", bad)
        reply = operator.wait_for(reply_to(request_id), what=f"error reply {request_id}")
        assert not reply.ok and reply.error.startswith("invalid command")
    operator.publish(f"lab/{session}/cmd", b"\xff not json")
    operator.publish(f"lab/{session}/cmd", {"id": "p2", "command": "ping"})
    assert operator.wait_for(reply_to("p2"), what="ping after garbage").ok, "agent survived bad commands"

    recording = (data / "recordings" / f"{session}.csv").read_text()
    assert ",stimulus_on" in recording
